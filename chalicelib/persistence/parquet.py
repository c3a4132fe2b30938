"""Parquet files of the facts datasets, written by DuckDB from the JSON Lines the export makes.

The facts (chalicelib/domain/exports.py FACT_DATASETS) are what analysts read by
date range, day after day: Athena reads Parquet by column and skips what a
query does not name, where it reads a gzipped JSON file whole. A part's rows
(JSON lines, as the other datasets' parts hold them) are written to a file in the
function's /tmp when the part is uploaded; DuckDB reads that file with the
dataset's declared column types (the Glue table's) and writes one Parquet file,
ZSTD-compressed, on one thread (the same rows give the same file: a re-run is
comparable).

DuckDB is imported here only, on the first part written, so nothing else pays
for it at cold start. Why DuckDB and not pyarrow: docs/analytics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain.exports import Column

_SIMPLE = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
           "decimal(18,2)": "DECIMAL(18,2)"}


def duckdb_type(glue_type: str) -> str:
    """The DuckDB type of a Glue (Hive) column type: what Athena reads the column as."""
    if glue_type in _SIMPLE:
        return _SIMPLE[glue_type]
    if glue_type.startswith("array<") and glue_type.endswith(">"):
        return duckdb_type(glue_type[6:-1]) + "[]"
    if glue_type.startswith("struct<") and glue_type.endswith(">"):
        fields = [f.split(":", 1) for f in glue_type[7:-1].split(",")]
        return "STRUCT(" + ", ".join(f'"{name}" {duckdb_type(kind)}' for name, kind in fields) + ")"
    raise ValueError(f"no DuckDB type for {glue_type}")


def write(json_lines: Path, parquet: Path, columns: Sequence[Column]) -> None:
    """The rows of `json_lines` (one JSON object per line) as the Parquet file `parquet`, with `columns`' names,
    order and types."""
    import duckdb

    types = ", ".join(f"'{c.name}': '{duckdb_type(c.glue_type)}'" for c in columns)
    names = ", ".join(f'"{c.name}"' for c in columns)
    connection = duckdb.connect(config={"threads": 1})
    try:
        # the paths are the export's own temporary files, the names and types its own schema: nothing from input
        connection.execute(
            f"COPY (SELECT {names} FROM read_json('{json_lines}', format = 'newline_delimited', "
            f"columns = {{{types}}})) TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)")
    finally:
        connection.close()
