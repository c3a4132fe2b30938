"""`make export-ls`: what the analytics export has written to the local stack's bucket, and a copy to read locally.

Lists s3://relasi-<stage>-exports-<account>/exports/ of a running local stack
(`make run`; moto on RELASI_AWS_PORT, default 4566): every object (last
modified, size, key), then one line per dataset and day from its
`_manifest.json` (rows, parts, bytes, run id). `--download DIR` copies into
DIR/exports/ what a reader should read: each manifest and the parts it names
(a part of a run that died, or of a day exported again, is left out, and
removed from an earlier copy), so a glob over a day reads each row once, for
DuckDB, pandas or pyarrow, e.g.

    duckdb -c "SELECT branch_id, count(*) FROM read_json_auto('DIR/exports/customers/*/*.jsonl.gz',
               hive_partitioning = true) WHERE dt = '2026-03-10' GROUP BY ALL"
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from infra import ports

PREFIX = "exports/"
REGION = "ap-southeast-3"
_PARTITION = re.compile(r"^exports/(?P<dataset>[^/]+)/dt=(?P<dt>[^/]+)/(?P<name>[^/]+)$")
_BACKFILL = re.compile(r"^exports/(?P<dataset>_backfill)/(?P<dt>[^/]+)/(?P<name>_manifest\.json)$")  # dt: its id
# what --download may remove from DIR: a snapshot's parts, the facts' parts a nightly run or a backfill added,
# manifests
_OURS = re.compile(r"^(part-\d{5}\.jsonl\.gz|c\d{4}-\d{2}-\d{2}-\d{5}\.(?:parquet|jsonl\.gz)|b[0-9A-Z]+-s\d{3}-\d{5}\.parquet"
                   r"|_manifest\.json)$")


def s3_client(aws_port: int) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{aws_port}", region_name=REGION,
                        aws_access_key_id="local", aws_secret_access_key="local")


def export_bucket(s3: Any, stage: str) -> str | None:
    """The stack's export bucket (relasi-<stage>-exports-<account>), or None."""
    names = [b["Name"] for b in s3.list_buckets().get("Buckets", [])
             if b["Name"].startswith(f"relasi-{stage}-exports-")]
    return sorted(names)[0] if names else None


def objects(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every object under exports/: key, size (bytes), modified (ISO 8601 UTC), in key order."""
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        for obj in page.get("Contents", []):
            found.append({"key": obj["Key"], "size": obj["Size"],
                          "modified": obj["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
    return sorted(found, key=lambda o: o["key"])


def manifests(s3: Any, bucket: str, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per dataset and day that has a manifest: dataset, dt, rows, parts, bytes, run_id, written_at,
    and keys (the manifest's own key and those of the parts it names)."""
    summaries = []
    # (the facts' manifests, exports/_facts/dt=<day exported>/ and exports/_backfill/<id>/, list parts of many
    # datasets)
    for obj in listed:
        match = _PARTITION.match(obj["key"]) or _BACKFILL.match(obj["key"])
        if not match or match.group("name") != "_manifest.json":
            continue
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=obj["key"])["Body"].read())
        summaries.append({"dataset": match.group("dataset"), "dt": match.group("dt"), "rows": manifest.get("rows"),
                          "parts": len(manifest.get("parts", [])), "bytes": manifest.get("bytes"),
                          "run_id": manifest.get("run_id"), "written_at": manifest.get("written_at"),
                          "keys": [obj["key"], *(str(p["key"]) for p in manifest.get("parts", []))]})
    return summaries


def download(s3: Any, bucket: str, listed: list[dict[str, Any]], summaries: list[dict[str, Any]],
             directory: Path) -> tuple[int, int, int]:
    """Copy the manifests and the parts they name into `directory`/exports/...; returns (files copied, bytes, stale
    files removed from an earlier copy)."""
    keys = {key for s in summaries for key in s["keys"]}
    wanted = {directory / obj["key"] for obj in listed if obj["key"] in keys}
    copied = size = 0
    for obj in listed:
        if obj["key"] not in keys:
            continue
        target = directory / obj["key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["key"], str(target))
        copied, size = copied + 1, size + obj["size"]
    removed = 0
    root = directory / PREFIX
    if root.is_dir():
        for path in [*root.glob("*/dt=*/*"), *root.glob("*/parquet/dt=*/*")]:  # snapshots and deltas; facts
            if path.is_file() and _OURS.match(path.name) and path not in wanted:
                path.unlink()
                removed += 1
    return copied, size, removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make export-ls",
        description=(
            "List what the analytics export wrote to a running local stack's bucket (`make run`): every object "
            "under exports/ (last modified UTC, size in bytes, key), then per dataset and day the manifest's rows, "
            "parts, bytes and run id. Layout: exports/<dataset>/dt=YYYY-MM-DD/part-NNNNN.jsonl.gz (gzipped JSON "
            "Lines) and _manifest.json, and exports/_athena/<dataset>/dt=YYYY-MM-DD/symlink.txt (the parts Athena "
            "reads); the facts datasets: exports/<dataset>/parquet/dt=<day it happened>/c<day exported>-NNNNN.parquet, "
            "listed in exports/_facts/dt=<day exported>/_manifest.json (a backfill's: exports/_backfill/<id>/). Start an export with `make trigger JOB=analytics-export DATE=YYYY-MM-DD`."
        ),
        epilog=(
            "Usage from make: make export-ls [DIR=<directory>] (DIR: --download). Environment: RELASI_AWS_PORT "
            "(default 4566), the port `make run` serves moto on. A copy reads with DuckDB: SELECT * FROM "
            "read_json_auto('DIR/exports/customers/*/*.jsonl.gz', hive_partitioning = true) WHERE dt = 'YYYY-MM-DD' "
            "(every day is a whole snapshot); the facts: read_parquet('DIR/exports/interaction_events/parquet/*/*.parquet', "
            "hive_partitioning = true) WHERE dt BETWEEN ... (each fact once)."
        ),
    )
    parser.add_argument("--aws-port", type=int, default=ports.aws_port(), help="moto's port (default: %(default)s)")
    parser.add_argument("--stage", default="dev", help="the local stack's stage (default: %(default)s)")
    parser.add_argument("--bucket", help="the bucket (default: the stack's relasi-<stage>-exports-*)")
    parser.add_argument("--download", metavar="DIR", type=Path,
                        help="also copy each manifest and the parts it names to DIR/exports/ (parts no manifest names "
                             "are left out, and removed from an earlier copy)")
    parser.add_argument("--json", action="store_true", help="print {bucket, objects, manifests} as JSON instead")
    args = parser.parse_args(argv)

    from botocore.exceptions import BotoCoreError, ClientError

    s3 = s3_client(args.aws_port)
    try:
        bucket = args.bucket or export_bucket(s3, args.stage)
        if bucket is None:
            print(f"error: the local stack on 127.0.0.1:{args.aws_port} has no bucket relasi-{args.stage}-exports-*",
                  file=sys.stderr)
            return 1
        listed = objects(s3, bucket)
        summaries = manifests(s3, bucket, listed)
        copied = download(s3, bucket, listed, summaries, args.download) if args.download else None
    except ClientError as exc:
        print(f"error: 127.0.0.1:{args.aws_port} answers {exc.response.get('Error', {}).get('Code', 'an error')}",
              file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"error: no local stack answers on 127.0.0.1:{args.aws_port} ({type(exc).__name__}); start it with "
              "`make run` or set RELASI_AWS_PORT", file=sys.stderr)
        return 1
    except OSError as exc:  # the copy's directory (AWS errors above are not OSErrors)
        print(f"error: cannot copy to {args.download}: {exc.strerror or exc}", file=sys.stderr)
        return 1

    if args.json:
        print(json.dumps({"bucket": bucket, "objects": listed,
                          "manifests": [{k: v for k, v in s.items() if k != "keys"} for s in summaries]}, indent=2))
    else:
        total = sum(o["size"] for o in listed)
        print(f"s3://{bucket}/{PREFIX}  {len(listed)} objects, {total} bytes")
        for obj in listed:
            print(f"{obj['modified']}  {obj['size']:>12}  {obj['key']}")
        if summaries:
            width = max(len(s["dataset"]) for s in summaries)
            print()
            print(f"{'dataset':<{width}}  {'dt':<10}  {'rows':>10}  {'parts':>5}  {'bytes':>12}  run")
            for s in summaries:
                print(f"{s['dataset']:<{width}}  {s['dt']:<10}  {str(s['rows']):>10}  {s['parts']:>5}  {str(s['bytes']):>12}  "
                      f"{s['run_id']}")
        elif not listed:
            print("(nothing exported yet: make trigger JOB=analytics-export DATE=YYYY-MM-DD)", file=sys.stderr)
    if copied is not None:
        files, size, removed = copied
        print(f"copied {files} files ({size} bytes) to {args.download / PREFIX}"
              + (f"; removed {removed} no longer in the bucket" if removed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head` stopped reading: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
