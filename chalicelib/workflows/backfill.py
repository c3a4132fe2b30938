"""The facts backfill: every fact the change log never brought to a nightly run, exported once, in segments.

The nightly run exports the facts the change log recorded that day
(chalicelib/workflows/analytics.py `export_changes`). What came before the log
(a first deployment, history imported from an older system), or what must be
written again (a schema change), is the backfill's: `POST /analytics/backfills`
starts the `export-backfill` state machine (chalicelib/workflows/backfill.asl.json),
which runs one invocation of the export function per scan segment of the CRM
table (a Map, a few at a time; a failed segment is retried alone), then one
that switches, then cleans up; a backfill that fails leaves nothing behind.

Who exports which fact: the backfill owns every fact **logged before
`before`** (the local day the backfill was asked for) or never logged; the
nightly runs own the facts logged on `before` and after. A segment therefore
leaves out a fact stored on or after `before` began (its `recorded_at`) and
one the change log holds under `before` or a later day (history imported
today under an older time, a notification that ended today). Once all
segments are done the finish step makes the backfill current (the nightly
runs of days before `before` then write no facts), waits until no run of such
a day is still exporting, and deletes what owned those facts before: the
previous backfill's parts and the nightly runs' parts of days before `before`.
So a date range in Athena reads each fact once, except while a backfill's
segments have written and its finish has not yet deleted (docs/analytics.md).

Parts: exports/<dataset>/dt=<local day it happened>/b<backfill id>-s<segment>-NNNNN.jsonl.gz;
what each segment wrote: exports/_backfill/<id>/s<segment>.json; the whole:
exports/_backfill/<id>/_manifest.json. A retried segment writes the same keys
(the scan's order) and deletes what its failed attempt wrote and it did not.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import (
    BACKFILL_BUFFER_BYTES,
    BACKFILL_ITEMS_PER_SEGMENT,
    BACKFILL_LEASE_SECONDS,
    BACKFILL_MAX_SEGMENTS,
    settings,
)
from chalicelib.domain import exports as ex
from chalicelib.domain.clock import iso, new_id, utcnow
from chalicelib.observability import count, logger

BACKFILL_PREFIX = "exports/_backfill"
STEPS = ("segment", "finish", "abandon")


class DayBeingExported(Exception):
    """A nightly run of a day the backfill now owns is still exporting: the finish step is retried later."""


class SegmentsMissing(Exception):
    """The finish step found a segment that has not written its manifest."""


def _today() -> date:
    return utcnow().astimezone(ZoneInfo(settings().timezone)).date()


def _epoch() -> int:
    return int(utcnow().timestamp())


def segment_key(backfill_id: str, segment: int) -> str:
    return f"{BACKFILL_PREFIX}/{backfill_id}/s{segment:03d}.json"


def manifest_key(backfill_id: str) -> str:
    return f"{BACKFILL_PREFIX}/{backfill_id}/_manifest.json"


def part_name(backfill_id: str, segment: int) -> str:
    return f"b{backfill_id}-s{segment:03d}"


# ---------------------------------------------------------------------------------------------- starting


def segments_for(item_count: int) -> int:
    """Enough segments that none scans more than BACKFILL_ITEMS_PER_SEGMENT items (DescribeTable's count, which
    DynamoDB refreshes every six hours or so: a margin, not a promise)."""
    return max(1, min(BACKFILL_MAX_SEGMENTS, math.ceil(item_count / BACKFILL_ITEMS_PER_SEGMENT)))


def step_event(step: str, backfill_id: str, before: str, total: int, segment: int | None = None) -> dict[str, Any]:
    """What the state machine hands the export function for one step: an EventBridge-shaped event (the function
    is a Chalice schedule handler), the step in `detail.backfill`."""
    detail: dict[str, Any] = {"step": step, "id": backfill_id, "before": before, "segments": total}
    if segment is not None:
        detail["segment"] = segment
    return {"version": "0", "id": f"{backfill_id}-{step}-{segment if segment is not None else ''}",
            "source": "relasi.backfill", "detail-type": "Facts backfill step", "account": "",
            "region": settings().region, "resources": [], "time": iso(utcnow()), "detail": {"backfill": detail}}


def execution_input(backfill_id: str, before: str, total: int, function: str) -> dict[str, Any]:
    """The state machine's input: the events of every step, made here so the ASL only routes them."""
    return {"function": function,
            "segments": [{"function": function, "event": step_event("segment", backfill_id, before, total, s)}
                         for s in range(total)],
            "finish": step_event("finish", backfill_id, before, total),
            "abandon": step_event("abandon", backfill_id, before, total)}


def request(requested_by: str | None, segments: int | None) -> dict[str, Any]:
    """POST /analytics/backfills: take the backfill lease, record it, start the state machine. 409 while one runs;
    503 when the workflow could not be started (recorded failed, the lease given back)."""
    from chalicelib.aws import client
    from chalicelib.domain.errors import ServiceUnavailable
    from chalicelib.persistence import backfills

    config = settings()
    if segments is None:
        table = client("dynamodb").describe_table(TableName=config.table_name)["Table"]
        segments = segments_for(int(table.get("ItemCount") or 0))
    backfill_id, before = new_id(), _today().isoformat()
    record = backfills.begin(backfill_id, before=before, segments=segments, requested_by=requested_by,
                             now_epoch=_epoch(), lease_seconds=BACKFILL_LEASE_SECONDS)
    payload = execution_input(backfill_id, before, segments, config.analytics_export_function)
    try:
        from chalicelib.workflows.executions import start_once

        start_once(config.backfill_state_machine_arn, f"backfill-{backfill_id}", payload)
    except Exception as error:
        backfills.finish(backfill_id, status="failed", now_epoch=_epoch(), error=type(error).__name__)
        raise ServiceUnavailable("The backfill could not be started; try again in a minute.") from None
    count("FactsBackfillStarted")
    return record


# ---------------------------------------------------------------------------------------------- the steps


def on_step(detail: dict[str, Any]) -> dict[str, Any]:
    """One step of the state machine (the export function's event `detail.backfill`)."""
    step, backfill_id = str(detail["step"]), str(detail["id"])
    before, total = date.fromisoformat(str(detail["before"])), int(detail["segments"])
    if step == "segment":
        return run_segment(backfill_id, before, int(detail["segment"]), total)
    if step == "finish":
        return finish(backfill_id, before, total)
    if step == "abandon":
        return abandon(backfill_id, before, total)
    raise ValueError(f"unknown backfill step {step!r}")


def _logged_since(before: date) -> set[tuple[str, str]]:
    """Every item the change log holds under `before` or a later day (the nightly runs' facts)."""
    from chalicelib.persistence import change_log

    keys: set[tuple[str, str]] = set()
    day = before
    while day <= _today():
        keys.update(change_log.keys_of(day))
        day += timedelta(days=1)
    return keys


def _group_facts(items: list[dict[str, Any]], key: ex.Pseudonymizer, snap: ex.Snapshot, begins: str,
                 logged: set[tuple[str, str]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(dataset, when it happened, row) of the facts of one partition key's items that are the backfill's."""
    order = next((i for i in items if i.get("type") == "order"), None)
    found: list[tuple[str, str, dict[str, Any]]] = []
    for item in items:
        if item.get("type") not in ex.FACT_TYPES:
            continue
        fact = ex.fact_row(item, key, snap)
        if fact is None or ex.recorded_at(item) >= begins or (str(item["pk"]), str(item["sk"])) in logged:
            continue
        found.append(fact)
        when = ex.delivered_at(item)
        if when is not None and order is not None:
            found.extend(("delivered_order_lines", when, line)
                         for line in ex.delivered_line_rows(order, when, key, snap))
    return found


def run_segment(backfill_id: str, before: date, segment: int, total: int) -> dict[str, Any]:
    """Scan one segment of the CRM table and write the backfill's facts in it. Safe to run again."""
    from chalicelib.aws import secret_value
    from chalicelib.persistence import backfills, export_files, export_source

    config = settings()
    bucket = config.export_bucket
    key = ex.Pseudonymizer(secret_value(config.pseudonym_secret_arn).encode())
    snap = ex.Snapshot(before - timedelta(days=1), config.timezone)  # its end: the first instant of `before`
    begins = snap.ends_at
    logged = _logged_since(before)
    previous = export_files.read_json(bucket, segment_key(backfill_id, segment)) or {}
    name = part_name(backfill_id, segment)
    writers: dict[tuple[str, str], export_files.PartWriter] = {}
    waiting: dict[tuple[str, str], list[bytes]] = defaultdict(list)
    held = 0
    parts: list[dict[str, Any]] = []
    # the partitions this segment's attempts wrote into, the failed ones' included (a third attempt still finds
    # what the first wrote)
    touched: set[tuple[str, str]] = {(str(d), str(on)) for d, on in previous.get("partitions", [])}

    def record(complete: bool) -> None:
        export_files.write_json(bucket, segment_key(backfill_id, segment), {
            "backfill_id": backfill_id, "segment": segment, "segments": total, "complete": complete,
            "partitions": sorted(touched), "parts": parts, "rows": sum(p["rows"] for p in parts)})

    if previous:  # no longer complete: this attempt rewrites it
        record(complete=False)

    def upload(complete: bool) -> None:
        # the partitions first, then the parts: whatever dies in between, a retry or the abandon finds them
        if not touched.issuperset(waiting):
            touched.update(waiting)
            record(complete=False)
        for (dataset, on), lines in sorted(waiting.items()):
            writer = writers.get((dataset, on))
            if writer is None:
                writer = writers[(dataset, on)] = export_files.PartWriter(bucket, dataset, on, name=name)
            uploaded = len(writer.parts)
            for line in lines:
                writer.write_line(line)
            for part in writer.close()[uploaded:]:
                parts.append({"dataset": dataset, "dt": on, "key": part.key, "rows": part.rows, "bytes": part.bytes})
        waiting.clear()
        record(complete)

    for batch in export_source.segment_groups(segment, total):
        for _, items in batch:
            for dataset, at, row in _group_facts(items, key, snap, begins, logged):
                line = export_files.line_of(row)
                waiting[(dataset, str(snap.local_date(at)))].append(line)
                held += len(line)
        if held >= BACKFILL_BUFFER_BYTES:
            upload(complete=False)
            held = 0
    upload(complete=True)
    if previous:  # an attempt before this one: delete what it wrote and this one did not
        written = {p["key"] for p in parts}
        stale = [k for k in _keys_of_segment(bucket, backfill_id, segment, {"partitions": sorted(touched)})
                 if k not in written]
        if stale:
            export_files.delete_keys(bucket, stale)
    backfills.segment_done(backfill_id, segment)
    rows = sum(p["rows"] for p in parts)
    logger().info("facts backfill segment done", extra={"backfill_id": backfill_id, "segment": segment,
                                                        "rows": rows, "parts": len(parts)})
    return {"segment": segment, "rows": rows, "parts": len(parts)}


def _keys_of_segment(bucket: str, backfill_id: str, segment: int, manifest: dict[str, Any]) -> list[str]:
    """Every part an attempt of the segment may have written: listed in the partitions its manifest names."""
    from chalicelib.persistence import export_files

    name = part_name(backfill_id, segment)
    return [key for dataset, on in manifest.get("partitions", [])
            for key in export_files.keys_under(bucket, export_files.partition_prefix(dataset, on) + name + "-")]


def _segment_manifests(bucket: str, backfill_id: str, total: int) -> list[dict[str, Any] | None]:
    from chalicelib.persistence import export_files

    return [export_files.read_json(bucket, segment_key(backfill_id, s)) for s in range(total)]


def _nightly_facts_before(bucket: str, before: date) -> list[tuple[str, list[str]]]:
    """(manifest key, its parts) of each nightly facts run of a day before `before`."""
    from chalicelib.persistence import export_files

    found = []
    for manifest in export_files.keys_under(bucket, f"{export_files.FACTS_PREFIX}/dt="):
        day = manifest.split("/dt=", 1)[1].split("/", 1)[0]
        if day < before.isoformat():
            content = export_files.read_json(bucket, manifest) or {}
            found.append((manifest, [str(p["key"]) for p in content.get("parts", [])]))
    return found


def finish(backfill_id: str, before: date, total: int) -> dict[str, Any]:
    """Every segment done: list the parts, make the backfill current, then delete what owned those facts before
    (the previous backfill's parts, the nightly runs' parts of the days before `before`). Safe to run again;
    raises DayBeingExported while a nightly run of such a day is still exporting (the state machine retries)."""
    from chalicelib.persistence import analytics_results, backfills, change_log, export_files

    bucket = settings().export_bucket
    manifests = _segment_manifests(bucket, backfill_id, total)
    if not all(m and m.get("complete") for m in manifests):
        raise SegmentsMissing(f"{sum(1 for m in manifests if not (m and m.get('complete')))} segment(s) not done")
    parts = [p for m in manifests for p in (m or {}).get("parts", [])]
    rows = sum(int(p["rows"]) for p in parts)
    # the backfill it replaces: as the first attempt found it (a retry after the switch finds itself current)
    mine = export_files.read_json(bucket, manifest_key(backfill_id))
    if mine is not None:
        replaces = mine.get("replaces")
    else:
        previous = backfills.current()
        replaces = str(previous["id"]) if previous else None
    export_files.write_json(bucket, manifest_key(backfill_id), {
        "backfill_id": backfill_id, "before": before.isoformat(), "schema_version": ex.SCHEMA_VERSION,
        "format": ex.FILE_EXTENSION, "segments": total, "rows": rows, "parts": parts, "replaces": replaces,
        "written_at": iso(utcnow())})
    if not backfills.make_current(backfill_id, before.isoformat()):
        raise RuntimeError("the backfill lost its lease")  # another backfill runs: this one abandons its parts
    # a run of an owned day that began before the switch may still write that day's facts: wait for it
    first = before - timedelta(days=change_log.CHANGE_LOG_DAYS)
    now = _epoch()
    busy = [r["date"] for r in analytics_results.runs_between(first.isoformat(), (before - timedelta(days=1)).isoformat())
            if r["status"] in analytics_results.ACTIVE and int(r["lease_until"]) >= now]
    if busy:
        raise DayBeingExported(f"{len(busy)} day(s) being exported")
    stale: list[str] = []
    owners: list[str] = []  # the manifests of what owned the facts before, deleted after their parts
    if replaces and replaces != backfill_id:
        old = export_files.read_json(bucket, manifest_key(replaces)) or {}
        written = {p["key"] for p in parts}
        stale.extend(str(p["key"]) for p in old.get("parts", []) if p["key"] not in written)
        owners.append(manifest_key(replaces))
    for manifest, keys in _nightly_facts_before(bucket, before):
        stale.extend(keys)
        owners.append(manifest)
    left = export_files.delete_keys(bucket, stale) if stale else []
    if left:
        raise RuntimeError(f"{len(left)} part(s) could not be deleted")  # retried; the facts are current already
    if owners:
        export_files.delete_keys(bucket, owners)
    backfills.finish(backfill_id, status="succeeded", now_epoch=_epoch(), rows=rows, parts=len(parts))
    count("FactsBackfillSucceeded")
    logger().info("facts backfill done", extra={"backfill_id": backfill_id, "rows": rows, "parts": len(parts),
                                                "replaced": len(stale)})
    return {"backfill_id": backfill_id, "status": "succeeded", "rows": rows, "parts": len(parts)}


def abandon(backfill_id: str, before: date, total: int) -> dict[str, Any]:
    """A segment or the finish failed for good: delete what the segments wrote (no reader was told of it), unless
    the backfill had already been made current (then only the cleanup failed: its parts are the facts)."""
    from chalicelib.persistence import backfills, export_files

    bucket = settings().export_bucket
    current = backfills.current()
    if not (current and current.get("id") == backfill_id):
        keys = [k for s, m in enumerate(_segment_manifests(bucket, backfill_id, total)) if m
                for k in _keys_of_segment(bucket, backfill_id, s, m)]
        export_files.delete_keys(bucket, keys + [segment_key(backfill_id, s) for s in range(total)])
        error = "SegmentFailed"
    else:
        error = "CleanupIncomplete"
    backfills.finish(backfill_id, status="failed", now_epoch=_epoch(), error=error)
    count("FactsBackfillFailed")
    logger().warning("facts backfill failed", extra={"backfill_id": backfill_id, "error": error})
    return {"backfill_id": backfill_id, "status": "failed", "error": error}


def owned_before() -> date | None:
    """The day before which the current backfill owns the facts (the nightly runs of those days write none)."""
    from chalicelib.persistence import backfills

    current = backfills.current()
    return date.fromisoformat(str(current["before"])) if current else None
