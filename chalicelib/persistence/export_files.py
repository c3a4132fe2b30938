"""Export files in S3: gzipped JSON Lines parts and the manifest of each dataset and day.

Layout: s3://<bucket>/exports/<dataset>/dt=YYYY-MM-DD/part-NNNNN.jsonl.gz and
_manifest.json next to them. A part is uploaded once it holds
EXPORT_PART_MAX_ROWS rows or EXPORT_PART_MAX_UNCOMPRESSED_BYTES of JSON, so
memory stays one compressed part per dataset, however large the table.

Replacing a day: the new parts get numbers after every part already there,
the manifest (one PUT, atomic) switches readers to them, and only then are
the old parts deleted. A reader that follows the manifest never sees half an
export or two exports mixed; see docs/analytics.md for what Athena sees.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.aws import client, error_code
from chalicelib.config import EXPORT_GZIP_LEVEL, EXPORT_PART_MAX_ROWS, EXPORT_PART_MAX_UNCOMPRESSED_BYTES
from chalicelib.domain.exports import FILE_EXTENSION, MANIFEST_NAME

EXPORTS_PREFIX = "exports"
_PART = re.compile(r"part-(\d{5})\." + re.escape(FILE_EXTENSION) + "$")


def partition_prefix(dataset: str, day: str) -> str:
    return f"{EXPORTS_PREFIX}/{dataset}/dt={day}/"


@dataclass
class Part:
    key: str
    rows: int
    bytes: int


@dataclass
class PartWriter:
    """Rows of one dataset and day, written as numbered gzipped JSON Lines parts."""

    bucket: str
    dataset: str
    day: str
    first_number: int = 0
    max_rows: int = EXPORT_PART_MAX_ROWS
    max_uncompressed_bytes: int = EXPORT_PART_MAX_UNCOMPRESSED_BYTES
    parts: list[Part] = field(default_factory=list)
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
        if self._gzip is None:
            self._buffer = io.BytesIO()
            # mtime=0: the same rows give the same bytes (a re-run is comparable byte for byte)
            self._gzip = gzip.GzipFile(fileobj=self._buffer, mode="wb", compresslevel=EXPORT_GZIP_LEVEL, mtime=0)
        line = json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
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
        body = self._buffer.getvalue()
        number = self.first_number + len(self.parts)
        key = f"{partition_prefix(self.dataset, self.day)}part-{number:05d}.{FILE_EXTENSION}"
        # A .gz file, not a gzip-encoded JSON document: no Content-Encoding, so no
        # HTTP client unpacks it on download and Athena goes by the extension.
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/gzip")
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
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return key


def read_manifest(bucket: str, dataset: str, day: str) -> dict[str, Any] | None:
    try:
        body = client("s3").get_object(Bucket=bucket, Key=partition_prefix(dataset, day) + MANIFEST_NAME)["Body"]
    except Exception as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    manifest: dict[str, Any] = json.loads(body.read())
    return manifest


def delete_keys(bucket: str, keys: list[str]) -> None:
    s3 = client("s3")
    for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1,000 keys
        chunk = keys[start:start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
