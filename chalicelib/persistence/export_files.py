"""Export files in S3: gzipped JSON Lines parts and the manifest of each dataset and day.

Layout: s3://<bucket>/exports/<dataset>/dt=YYYY-MM-DD/part-NNNNN.jsonl.gz and
_manifest.json next to them. A part is uploaded once it holds
EXPORT_PART_MAX_ROWS rows or EXPORT_PART_MAX_UNCOMPRESSED_BYTES of JSON, so
memory stays one compressed part per dataset, however large the table.

Athena does not read the manifest; it reads what a *symlink file* lists:
s3://<bucket>/exports/_athena/<dataset>/dt=YYYY-MM-DD/symlink.txt, one s3://
URI of a part per line, where the Glue tables (SymlinkTextInputFormat) point.

Replacing a day: the new parts get numbers after every part already there
(readers see none of them yet), then the symlink file and the manifest (one
PUT each, atomic) switch Athena and manifest readers to them, and only then
are the old parts deleted. Neither kind of reader ever sees half an export,
two exports mixed, or the parts of a run that died.

Facts (chalicelib/domain/exports.py FACT_DATASETS) are Parquet files
(chalicelib/persistence/parquet.py), read by Athena straight from
exports/<dataset>/parquet/dt=<day it happened>/, where each run adds parts
named after the day it exports, c<YYYY-MM-DD>-NNNNN.parquet; the partitions a
run writes into and the parts it wrote are listed in
exports/_facts/dt=<that day>/_manifest.json. (Their own folder per format: the
gzipped JSON parts of schema 7 are never read by the Parquet tables.)
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.aws import client, error_code
from chalicelib.config import EXPORT_GZIP_LEVEL, EXPORT_PART_MAX_ROWS, EXPORT_PART_MAX_UNCOMPRESSED_BYTES
from chalicelib.domain.exports import (
    FACT_DATASETS,
    FACT_FILE_EXTENSION,
    FILE_EXTENSION,
    MANIFEST_NAME,
    RETIRED_DATASETS,
    file_extension,
)

EXPORTS_PREFIX = "exports"
ATHENA_PREFIX = f"{EXPORTS_PREFIX}/_athena"  # the Glue tables' location: symlink files only
SYMLINK_NAME = "symlink.txt"
_PART = re.compile(r"part-(\d{5})\." + re.escape(FILE_EXTENSION) + "$")


def partition_prefix(dataset: str, day: str) -> str:
    if dataset in FACT_DATASETS:
        return f"{EXPORTS_PREFIX}/{dataset}/{FACT_FILE_EXTENSION}/dt={day}/"
    return f"{EXPORTS_PREFIX}/{dataset}/dt={day}/"


def symlink_prefix(dataset: str, day: str) -> str:
    """Where the Glue table of `dataset` finds the partition `day` (infra/template.yaml storage.location.template)."""
    return f"{ATHENA_PREFIX}/{dataset}/dt={day}/"


Line = bytes  # (PartWriter's `bytes` property hides the type inside the class)


def line_of(row: dict[str, Any]) -> Line:
    """A row as a part holds it: one line of compact JSON."""
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


@dataclass
class Part:
    key: str
    rows: int
    bytes: int


@dataclass
class PartWriter:
    """Rows of one dataset and day, written as numbered parts: gzipped JSON Lines, or Parquet for the facts
    (the same gzipped lines made a Parquet file at upload: chalicelib/persistence/parquet.py)."""

    bucket: str
    dataset: str
    day: str
    first_number: int = 0
    name: str = "part"  # parts are <name>-NNNNN: a facts run names them after the day it exports (c<YYYY-MM-DD>)
    # Looked up when a writer is made (not when this class is), so a test can make parts small.
    max_rows: int = field(default_factory=lambda: EXPORT_PART_MAX_ROWS)
    max_uncompressed_bytes: int = field(default_factory=lambda: EXPORT_PART_MAX_UNCOMPRESSED_BYTES)
    parts: list[Part] = field(default_factory=list)
    before_upload: Callable[[], None] | None = None  # called before each PUT (a run records where it writes first)
    _buffer: io.BytesIO | None = None
    _gzip: gzip.GzipFile | None = None
    _rows: int = 0
    _raw_bytes: int = 0

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts) + self._rows

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    def write(self, row: dict[str, Any]) -> None:
        self.write_line(line_of(row))

    def write_line(self, line: Line) -> None:
        """A row already made a JSON line (`line_of`)."""
        if self._gzip is None:
            self._buffer = io.BytesIO()
            # mtime=0: the same rows give the same bytes (a re-run is comparable byte for byte)
            self._gzip = gzip.GzipFile(fileobj=self._buffer, mode="wb", compresslevel=EXPORT_GZIP_LEVEL, mtime=0)
        self._gzip.write(line)
        self._rows += 1
        self._raw_bytes += len(line)
        if self._rows >= self.max_rows or self._raw_bytes >= self.max_uncompressed_bytes:
            self._upload()

    def close(self) -> list[Part]:
        if self._rows:
            self._upload()
        return self.parts

    def _upload(self) -> None:
        assert self._gzip is not None and self._buffer is not None
        self._gzip.close()
        body, content_type = self._buffer.getvalue(), "application/gzip"
        if self.dataset in FACT_DATASETS:
            from chalicelib.persistence import parquet

            body = parquet.from_json_lines(body, FACT_DATASETS[self.dataset])
            content_type = "application/vnd.apache.parquet"
        number = self.first_number + len(self.parts)
        key = f"{partition_prefix(self.dataset, self.day)}{self.name}-{number:05d}.{file_extension(self.dataset)}"
        if self.before_upload is not None:
            self.before_upload()
        # A .gz file, not a gzip-encoded JSON document: no Content-Encoding, so no
        # HTTP client unpacks it on download and Athena goes by the extension.
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        self.parts.append(Part(key, self._rows, len(body)))
        self._buffer, self._gzip, self._rows, self._raw_bytes = None, None, 0, 0


def keys_under(bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def next_part_number(existing: Iterable[str]) -> int:
    """The first part number after every part already in the partition."""
    numbers = [int(m.group(1)) for key in existing if (m := _PART.search(key))]
    return max(numbers) + 1 if numbers else 0


def write_manifest(bucket: str, dataset: str, day: str, manifest: dict[str, Any]) -> str:
    key = partition_prefix(dataset, day) + MANIFEST_NAME
    write_json(bucket, key, manifest)
    return key


def write_symlink(bucket: str, dataset: str, day: str, part_keys: Iterable[str]) -> str:
    """Point Athena at exactly these parts (an empty file: the day has no rows)."""
    key = symlink_prefix(dataset, day) + SYMLINK_NAME
    body = "".join(f"s3://{bucket}/{k}\n" for k in part_keys).encode()
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")
    return key


def read_manifest(bucket: str, dataset: str, day: str) -> dict[str, Any] | None:
    return read_json(bucket, partition_prefix(dataset, day) + MANIFEST_NAME)


FACTS_PREFIX = f"{EXPORTS_PREFIX}/_facts"


def retired_keys(bucket: str) -> list[str]:
    """What no table reads any more: every file of a retired dataset (its parts, manifests and symlink files), and
    the facts' files of the format before Parquet (schema 7: `exports/<dataset>/dt=…`, beside `…/parquet/`)."""
    prefixes = [f"{root}/{name}/" for name in RETIRED_DATASETS for root in (EXPORTS_PREFIX, ATHENA_PREFIX)]
    prefixes += [f"{EXPORTS_PREFIX}/{name}/dt=" for name in FACT_DATASETS]
    return [key for prefix in prefixes for key in keys_under(bucket, prefix)]


def facts_manifest_key(day: str) -> str:
    """What the facts runs of `day` (the day the change log recorded them) wrote: the partitions any of them wrote
    into (recorded before its first upload, so a run that died is found too), and the last run's parts."""
    return f"{FACTS_PREFIX}/dt={day}/{MANIFEST_NAME}"


def facts_part_name(day: str) -> str:
    """The facts run of `day` names its parts <this>-NNNNN in each partition it writes into."""
    return f"c{day}"


def facts_partitions(manifest: dict[str, Any]) -> set[tuple[str, str]]:
    """(dataset, dt) of every partition a facts manifest names: those recorded, and those of its parts."""
    return ({(str(d), str(on)) for d, on in manifest.get("partitions", [])}
            | {(str(p["dataset"]), str(p["dt"])) for p in manifest.get("parts", [])})


def facts_keys_of(bucket: str, day: str, manifest: dict[str, Any]) -> list[str]:
    """Every part any facts run of `day` may have written: listed in the partitions its manifest names."""
    return parts_named(bucket, sorted(facts_partitions(manifest)), facts_part_name(day))


def parts_named(bucket: str, partitions: Iterable[tuple[str, str]], name: str) -> list[str]:
    """The parts <name>-NNNNN in each (dataset, dt) partition: one ListObjectsV2 each (a page per 1,000)."""
    return [key for dataset, on in partitions for key in keys_under(bucket, partition_prefix(dataset, on) + name + "-")]


def read_json(bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except Exception as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    found: dict[str, Any] = json.loads(body.read())
    return found


def write_json(bucket: str, key: str, content: dict[str, Any]) -> None:
    body = json.dumps(content, indent=2, sort_keys=True).encode()
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def delete_keys(bucket: str, keys: list[str]) -> list[str]:
    """Delete the keys; returns those S3 could not delete (DeleteObjects reports them per key, not as an error)."""
    s3 = client("s3")
    failed: list[str] = []
    for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1,000 keys
        chunk = keys[start:start + 1000]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        failed.extend(str(e["Key"]) for e in answer.get("Errors", []))
    return failed


BACKFILL_PREFIX = f"{EXPORTS_PREFIX}/_backfill"  # the facts backfill's manifests (chalicelib/workflows/backfill.py)


def backfill_segment_key(backfill_id: str, segment: int) -> str:
    """What a segment of the backfill wrote: the partitions first, then the parts."""
    return f"{BACKFILL_PREFIX}/{backfill_id}/s{segment:03d}.json"


def backfill_manifest_key(backfill_id: str) -> str:
    return f"{BACKFILL_PREFIX}/{backfill_id}/{MANIFEST_NAME}"


def backfill_part_name(backfill_id: str, segment: int) -> str:
    """Its parts are <this>-NNNNN in each partition it writes into."""
    return f"b{backfill_id}-s{segment:03d}"


def backfill_ids(bucket: str) -> list[str]:
    """Every backfill that has files under BACKFILL_PREFIX (one ListObjectsV2 page per 1,000)."""
    found: list[str] = []
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=BACKFILL_PREFIX + "/",
                                                                      Delimiter="/"):
        found.extend(p["Prefix"][len(BACKFILL_PREFIX) + 1:].rstrip("/") for p in page.get("CommonPrefixes", []))
    return found


def facts_manifest_days(bucket: str) -> list[tuple[str, str]]:
    """(day, manifest key) of every nightly facts run's manifest."""
    return [(key.split("/dt=", 1)[1].split("/", 1)[0], key) for key in keys_under(bucket, f"{FACTS_PREFIX}/dt=")
            if key.endswith("/" + MANIFEST_NAME)]

