"""The facts files: a day's contacts as Parquet (what the export writes) against gzipped JSON Lines (schema 7).

Athena bills the bytes a query reads. A gzipped JSON file is read whole; a
Parquet file only in the column chunks a query names. One day's
`interaction_events` (DAY_FACTS rows, spread like the export bench's: 10,000
customers, three branches, the channels and kinds by the same weights, staff
and times at random) are made into one part each way, as the export makes
them (`export_files.line_of`, gzip level EXPORT_GZIP_LEVEL, then
`parquet.from_json_lines`), and measured: the bytes of each file, the bytes
a query of contacts per channel and day reads (the `channel` and
`occurred_on` column chunks, from the Parquet footer), and the CPU time of
each step (median of the runs). No AWS and no moto: a few seconds.
"""

from __future__ import annotations

import gzip
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bench.export import CHANNELS, DAY_FACTS, DEFAULT_CUSTOMERS, DEFAULT_DAY, KINDS

RUNS = 5
STAFF = 60
QUERY_COLUMNS = ("channel", "occurred_on")


@dataclass
class FormatBench:
    rows: int
    json_gz_bytes: int
    parquet_bytes: int
    parquet_query_bytes: int  # the QUERY_COLUMNS' column chunks
    gzip_cpu_s: float  # the rows made gzipped JSON Lines (what every part costs)
    parquet_cpu_s: float  # those bytes made Parquet (what a facts part costs on top)
    runs: int


def _rows(n: int, day: date, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    channels, channel_weights = zip(*CHANNELS, strict=True)
    kinds, kind_weights = zip(*KINDS, strict=True)
    customers = [(f"{rng.getrandbits(128):032x}", rng.choice(("jakarta", "bandung", "surabaya")))
                 for _ in range(DEFAULT_CUSTOMERS)]
    staff = [f"{rng.getrandbits(128):032x}" for _ in range(STAFF)]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=7)  # the local day, in UTC
    rows = []
    for _ in range(n):
        customer_key, branch_id = rng.choice(customers)
        moment = start + timedelta(milliseconds=rng.randrange(86_400_000))
        rows.append({
            "customer_key": customer_key, "branch_id": branch_id,
            "channel": rng.choices(channels, channel_weights)[0], "direction": rng.choice(("inbound", "outbound")),
            "kind": rng.choices(kinds, kind_weights)[0], "staff_key": rng.choice(staff),
            "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "occurred_on": day.isoformat()})
    return rows


def _column_bytes(parquet_file: bytes, columns: tuple[str, ...]) -> int:
    import tempfile

    import duckdb

    with tempfile.NamedTemporaryFile(suffix=".parquet") as file:
        file.write(parquet_file)
        file.flush()
        connection = duckdb.connect()
        try:
            found = connection.execute(
                "SELECT sum(total_compressed_size) FROM parquet_metadata(?) WHERE path_in_schema IN ("
                + ", ".join("?" for _ in columns) + ")", [file.name, *columns]).fetchone()
        finally:
            connection.close()
    return int(found[0]) if found and found[0] is not None else 0


def measure(rows: int = DAY_FACTS, runs: int = RUNS, day: date = DEFAULT_DAY) -> FormatBench:
    from chalicelib.config import EXPORT_GZIP_LEVEL
    from chalicelib.domain.exports import FACT_DATASETS
    from chalicelib.persistence import parquet
    from chalicelib.persistence.export_files import line_of

    made = _rows(rows, day)
    columns = FACT_DATASETS["interaction_events"]
    gzip_cpu, parquet_cpu = [], []
    body = parquet_file = b""
    for _ in range(runs):
        started = time.process_time()
        body = gzip.compress(b"".join(line_of(r) for r in made), compresslevel=EXPORT_GZIP_LEVEL, mtime=0)
        gzip_cpu.append(time.process_time() - started)
        started = time.process_time()
        parquet_file = parquet.from_json_lines(body, columns)
        parquet_cpu.append(time.process_time() - started)
    return FormatBench(rows=rows, json_gz_bytes=len(body), parquet_bytes=len(parquet_file),
                       parquet_query_bytes=_column_bytes(parquet_file, QUERY_COLUMNS),
                       gzip_cpu_s=statistics.median(gzip_cpu), parquet_cpu_s=statistics.median(parquet_cpu),
                       runs=runs)
