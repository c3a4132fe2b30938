"""The facts' Parquet writer (chalicelib/persistence/parquet.py), on its own: no AWS."""

from __future__ import annotations

import gzip
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.domain.exports import FACT_DATASETS
from chalicelib.persistence import parquet
from tests.test_export_facts import part_rows

LINES = FACT_DATASETS["delivered_order_lines"]


def gzipped(*rows: dict[str, Any]) -> bytes:
    return gzip.compress(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows))


def schema_of(file: bytes) -> list[tuple[str, str]]:
    import duckdb

    with tempfile.NamedTemporaryFile(suffix=".parquet") as f:
        f.write(file)
        f.flush()
        connection = duckdb.connect()
        try:
            return connection.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                                      [f.name]).fetchall()
        finally:
            connection.close()


def test_rows_come_back_with_the_declared_columns_and_types_exactly() -> None:
    file = parquet.from_json_lines(gzipped(
        {"order_key": "k1", "qty": 3, "unit_price": 19999.99, "is_revenue": True, "line_no": 2, "sku": "ÖL-É",
         "not_a_column": "dropped"},
        {"order_key": "k2"}), LINES)
    rows = part_rows("part.parquet", file)
    assert schema_of(file) == [(c.name, parquet.duckdb_type(c.glue_type)) for c in LINES]
    first, second = rows
    assert (first["qty"], first["unit_price"], first["is_revenue"], first["line_no"], first["sku"]) \
        == (3.0, Decimal("19999.99"), True, 2, "ÖL-É")
    assert "not_a_column" not in first
    assert {k for k, v in second.items() if v is not None} == {"order_key"}  # what a row leaves out is null


def test_the_same_rows_give_the_same_file_on_any_thread_even_after_a_failure() -> None:
    body = gzipped(*({"order_key": f"k{n}", "unit_price": n / 100} for n in range(500)))
    once = parquet.from_json_lines(body, LINES)
    with pytest.raises(Exception):  # noqa: B017, PT011 - DuckDB's own error: not gzip
        parquet.from_json_lines(b"not gzip", LINES)
    assert parquet.from_json_lines(body, LINES) == once  # the thread's connection still works
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(lambda _: parquet.from_json_lines(body, LINES), range(32))) == {once}


def test_no_temporary_file_is_left() -> None:
    from pathlib import Path

    before = set(Path(tempfile.gettempdir()).glob("relasi-parquet-*"))
    parquet.from_json_lines(gzipped({"order_key": "k"}), LINES)
    with pytest.raises(Exception):  # noqa: B017, PT011
        parquet.from_json_lines(b"\x1f\x8bbroken", LINES)
    assert set(Path(tempfile.gettempdir()).glob("relasi-parquet-*")) == before
