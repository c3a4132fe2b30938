"""Parquet files of the facts datasets, written by DuckDB from the gzipped JSON Lines the export makes.

The facts (chalicelib/domain/exports.py FACT_DATASETS) are what analysts read by
date range, day after day: Athena reads Parquet by column and skips what a
query does not name, where it reads a gzipped JSON file whole. A facts part is
made like any other (gzipped JSON lines in memory, so memory stays one
compressed part per dataset and day); when it is uploaded, its bytes go to a
temporary folder in the function's /tmp, DuckDB reads them with the dataset's
declared column types (the Glue table's) and writes one Parquet file,
ZSTD-compressed, on one thread (the same rows give the same file: a re-run is
comparable), and the folder is removed whatever happens. Each thread keeps its
DuckDB connection: opening one (about 6 ms of CPU) costs more than converting
a small part (a backfill writes one per day of history it touches).

DuckDB is imported here only, when a part is written, so nothing else pays for
it at cold start. Why DuckDB and not pyarrow, and why not Athena CTAS:
docs/analytics.md.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.domain.exports import Column

_SIMPLE = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
           "decimal(18,2)": "DECIMAL(18,2)"}
# Lambda's file system is read-only but for /tmp; the function's memory (1,769 MB) is shared with the export;
# no extension is ever fetched at run time
_MEMORY_LIMIT = "512MB"
_SPILL_FOLDER = "relasi-duckdb-spill"  # under the temporary folder (/tmp on Lambda), should DuckDB ever spill
_local = threading.local()  # one connection per thread, kept: opening one costs more than converting a small part


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


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _connection() -> Any:
    """This thread's DuckDB connection (the backfill converts parts on several threads at once)."""
    found = getattr(_local, "connection", None)
    if found is None:
        import duckdb

        found = _local.connection = duckdb.connect(config={
            "threads": 1, "memory_limit": _MEMORY_LIMIT,
            "temp_directory": str(Path(tempfile.gettempdir()) / _SPILL_FOLDER),
            "autoinstall_known_extensions": False, "autoload_known_extensions": False})
    return found


def from_json_lines(gzipped: bytes, columns: Sequence[Column]) -> bytes:
    """The rows of `gzipped` (gzipped JSON Lines, one object per line) as a Parquet file with `columns`' names,
    order and types; a key no column names is left out, a missing one is null."""
    types = ", ".join(f"{_literal(c.name)}: {_literal(duckdb_type(c.glue_type))}" for c in columns)
    names = ", ".join('"' + c.name.replace('"', '""') + '"' for c in columns)
    with tempfile.TemporaryDirectory(prefix="relasi-parquet-") as folder:
        rows, written = Path(folder) / "rows.jsonl.gz", Path(folder) / "rows.parquet"
        rows.write_bytes(gzipped)
        _connection().execute(
            f"COPY (SELECT {names} FROM read_json({_literal(str(rows))}, format = 'newline_delimited', "
            f"compression = 'gzip', columns = {{{types}}})) TO {_literal(str(written))} "
            f"(FORMAT parquet, COMPRESSION zstd)")
        return written.read_bytes()
