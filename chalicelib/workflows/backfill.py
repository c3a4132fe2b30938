"""The facts backfill: every fact the change log never brought to a nightly run, exported once, in segments.

The nightly run exports the facts the change log recorded that day
(chalicelib/workflows/analytics.py `export_changes`). What came before the log
(a first deployment, history imported from an older system), or what must be
written again (a schema change), is the backfill's: `POST /analytics/backfills`
starts the `export-backfill` state machine (chalicelib/workflows/backfill.asl.json),
which runs one invocation of the export function per scan segment of the CRM
table (a Map, a few at a time; a failed segment is retried alone), then one
that switches, then cleans up; a backfill that fails records it (segments
still running stop at their next upload), deletes what its segments wrote,
waits for them and deletes again: it leaves nothing behind.

Who exports which fact: the backfill owns every fact **logged before
`before`** (the local day the backfill was asked for) or never logged; the
nightly runs own the facts logged on `before` and after. A segment therefore
leaves out a fact stored on or after `before` began (its `recorded_at`) and
one the change log holds under `before` or a later day (history imported
today under an older time, a notification that ended today). Once all
segments are done the finish step makes the backfill current (the nightly
runs of days before `before` then write no facts), waits until no run of such
a day is still exporting, and deletes what owned those facts before: every
other backfill found on S3 (the previous one, any that died) and the nightly
runs' parts of days before `before`; and what no table reads any more (a
retired dataset's files, the facts' files of the format before Parquet).
So a date range in Athena reads each fact once, except while a backfill's
segments have written and its finish has not yet deleted (docs/analytics.md).

Parts (Parquet): exports/<dataset>/parquet/dt=<local day it happened>/b<backfill id>-s<segment>-NNNNN.parquet;
what each segment wrote: exports/_backfill/<id>/s<segment>.json; the whole:
exports/_backfill/<id>/_manifest.json. A retried segment writes the same keys
(the scan's order) and deletes what its earlier attempts wrote and it did not.
"""

from __future__ import annotations

import math
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from chalicelib.config import (
    BACKFILL_BUFFER_BYTES,
    BACKFILL_ENGAGEMENT_THREADS,
    BACKFILL_ITEMS_PER_SEGMENT,
    BACKFILL_LEASE_SECONDS,
    BACKFILL_MAX_SEGMENTS,
    BACKFILL_REFRESH_DAYS,
    BACKFILL_UPLOAD_THREADS,
    CATCH_UP_DAYS,
    EXPORT_EARLIEST_DATE,
    settings,
)
from chalicelib.domain import exports as ex
from chalicelib.domain.clock import iso, local_today, new_id, utcnow
from chalicelib.observability import count, logger


class DayBeingExported(Exception):
    """A nightly run of a day the backfill now owns is still exporting: the finish step is retried later."""


class SegmentsMissing(Exception):
    """The finish step found a segment that has not written its manifest."""


class LostLease(Exception):
    """The backfill ran past its lease and another one took it: it cannot become current (not retried)."""


class PartsLeft(Exception):
    """S3 did not delete every part it was asked to: the step is retried."""


def _epoch() -> int:
    return int(utcnow().timestamp())


def segments_for(item_count: int) -> int:
    """Enough segments that none scans more than BACKFILL_ITEMS_PER_SEGMENT items (DescribeTable's count, which
    DynamoDB refreshes every six hours or so: a margin, not a promise)."""
    return max(1, min(BACKFILL_MAX_SEGMENTS, math.ceil(item_count / BACKFILL_ITEMS_PER_SEGMENT)))


# ---------------------------------------------------------------------------------------------- starting


def step_event(step: str, backfill_id: str, before: str, total: int, segment: int | None = None,
               *, final: bool = False) -> dict[str, Any]:
    """What the state machine hands the export function for one step: an EventBridge-shaped event (the function
    is a Chalice schedule handler), the step in `detail.backfill`."""
    detail: dict[str, Any] = {"step": step, "id": backfill_id, "before": before, "segments": total}
    if segment is not None:
        detail["segment"] = segment
    if final:
        detail["final"] = True
    name = f"{step}-{segment}" if segment is not None else step + ("-final" if final else "")
    return {"version": "0", "id": f"{backfill_id}-{name}", "source": "relasi.backfill",
            "detail-type": "Facts backfill step", "account": "", "region": settings().region, "resources": [],
            "time": iso(utcnow()), "detail": {"backfill": detail}}


def execution_input(backfill_id: str, before: str, total: int, function: str) -> dict[str, Any]:
    """The state machine's input: the events of every step, made here so the ASL only routes them; and how long
    a failed backfill waits for segments still running before its last sweep."""
    return {"function": function,
            "segments": [{"function": function, "event": step_event("segment", backfill_id, before, total, s)}
                         for s in range(total)],
            "finish": step_event("finish", backfill_id, before, total),
            "abandon": step_event("abandon", backfill_id, before, total),
            "sweep": step_event("abandon", backfill_id, before, total, final=True),
            "settle_seconds": settings().backfill_settle_seconds}


def request(requested_by: str | None, segments: int | None) -> dict[str, Any]:
    """POST /analytics/backfills: take the backfill lease, record it, start the state machine. 409 while one runs;
    503 when the workflow could not be started (recorded failed, the lease given back)."""
    from chalicelib.domain.errors import ServiceUnavailable
    from chalicelib.persistence import backfills, export_source
    from chalicelib.workflows.executions import start_once

    config = settings()
    if segments is None:
        segments = segments_for(export_source.item_count())
    backfill_id, before = new_id(), local_today(settings().timezone).isoformat()
    record = backfills.begin(backfill_id, before=before, segments=segments, requested_by=requested_by,
                             now_epoch=_epoch(), lease_seconds=BACKFILL_LEASE_SECONDS,
                             facts_schema=ex.FACTS_SCHEMA_VERSION)
    payload = execution_input(backfill_id, before, segments, config.analytics_export_function)
    try:
        start_once(config.backfill_state_machine_arn, f"backfill-{backfill_id}", payload)
    except Exception as error:
        backfills.finish(backfill_id, status="failed", now_epoch=_epoch(), error=type(error).__name__)
        raise ServiceUnavailable("The backfill could not be started; try again in a minute.") from None
    count("FactsBackfillStarted")
    return record


GAVE_UP = ("SegmentFailed", "FinishFailed")  # how a backfill that ran and failed ends (abandon)


def needed(current: dict[str, Any] | None, today: date) -> str | None:
    """Why a backfill is needed, given the current one: `first` (none has succeeded: the first deployment, history
    from before the change log), `schema` (it wrote another FACTS_SCHEMA_VERSION: a deployment, or a rollback,
    changed the facts' files), `refresh` (it is BACKFILL_REFRESH_DAYS old: its parts expire at 400); or None."""
    if current is None:
        return "first"
    if int(current.get("facts_schema") or 0) != ex.FACTS_SCHEMA_VERSION:
        return "schema"
    if date.fromisoformat(str(current["before"])) <= today - timedelta(days=BACKFILL_REFRESH_DAYS):
        return "refresh"
    return None


def start_if_needed() -> dict[str, Any] | None:
    """Tonight's export run asks (chalicelib/workflows/analytics.py on_event): start a backfill when one is
    `needed`, so that neither a deployment nor the bucket's expiry depends on someone remembering a runbook step.
    None when nothing is needed; else what it did: started, or not started because one is running, or because
    the last one the nightly run started for this schema ran and failed (the `export-backfill-failed` alarm told
    ops, and an admin starts the next one; every night's full backfill failing the same way would help nobody),
    or because the workflow could not be started (counted: the `export-backfill-not-started` alarm; the next
    night tries again)."""
    from chalicelib.domain.errors import Conflict, ServiceUnavailable
    from chalicelib.persistence import backfills

    current = backfills.current()
    reason = needed(current, local_today(settings().timezone))
    if reason is None:
        return None
    last = backfills.latest()
    if last is not None and last.get("requested_by") == backfills.AUTOMATIC and last["status"] == "failed" \
            and last.get("error") in GAVE_UP and int(last.get("facts_schema") or 0) == ex.FACTS_SCHEMA_VERSION:
        return {"status": "not_started", "reason": "failed_before", "backfill_id": str(last["id"])}
    try:
        record = request(backfills.AUTOMATIC, None)
    except Conflict:
        return {"status": "not_started", "reason": "running"}
    except ServiceUnavailable:
        count("FactsBackfillAutoStartFailed")
        return {"status": "not_started", "reason": "unavailable"}
    logger().warning("the nightly run started a facts backfill", extra={"backfill_id": record["id"], "reason": reason})
    return {"status": "started", "reason": reason, "backfill_id": str(record["id"])}


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
        return abandon(backfill_id, total, final=bool(detail.get("final")))
    raise ValueError(f"unknown backfill step {step!r}")


def _logged_since(before: date) -> set[tuple[str, str]]:
    """Every item the change log holds under `before` or a later day (the nightly runs' facts)."""
    from chalicelib.persistence import change_log

    keys: set[tuple[str, str]] = set()
    day = before
    while day <= local_today(settings().timezone):
        keys.update(change_log.keys_of(day))
        day += timedelta(days=1)
    return keys


def run_segment(backfill_id: str, before: date, segment: int, total: int) -> dict[str, Any]:
    """Scan one segment of the CRM table and write the backfill's facts in it. Safe to run again; writes
    nothing once the backfill has stopped (BackfillStopped)."""
    from chalicelib.aws import secret_value
    from chalicelib.persistence import backfills, engagement, export_files, export_source

    config = settings()
    bucket = config.export_bucket
    key = ex.Pseudonymizer(secret_value(config.pseudonym_secret_arn).encode())
    snap = ex.Snapshot(before - timedelta(days=1), config.timezone)  # its end: the first instant of `before`
    begins = snap.ends_at
    manifest_key = export_files.backfill_segment_key(backfill_id, segment)
    previous = export_files.read_json(bucket, manifest_key) or {}
    name = export_files.backfill_part_name(backfill_id, segment)
    writers: dict[tuple[str, str], export_files.PartWriter] = {}
    waiting: dict[tuple[str, str], list[tuple[tuple[str, str], bytes]]] = defaultdict(list)
    held = skipped = 0
    parts: list[dict[str, Any]] = []
    # the partitions this segment's attempts wrote into, the failed ones' included (a third attempt still finds
    # what the first wrote)
    touched: set[tuple[str, str]] = {(str(d), str(on)) for d, on in previous.get("partitions", [])}

    def record(complete: bool) -> None:
        export_files.write_json(bucket, manifest_key, {
            "backfill_id": backfill_id, "segment": segment, "segments": total, "complete": complete,
            "partitions": sorted(touched), "parts": parts, "rows": sum(p["rows"] for p in parts)})

    backfills.still_running(backfill_id)
    if previous:  # no longer complete: this attempt rewrites it
        record(complete=False)

    def upload(complete: bool) -> None:
        backfills.still_running(backfill_id)  # a backfill that failed meanwhile gets no more parts
        # the nightly runs' as of now: a fact logged since the segment began (a notification that ended) is theirs
        logged = _logged_since(before)
        # the partitions first, then the parts: whatever dies in between, a retry or the abandon finds them
        if not touched.issuperset(waiting):
            touched.update(waiting)
            record(complete=False)
        for (dataset, on) in waiting:
            if (dataset, on) not in writers:
                writers[(dataset, on)] = export_files.PartWriter(bucket, dataset, on, name=name)

        def write(partition: tuple[str, str]) -> list[export_files.Part]:
            writer = writers[partition]
            uploaded = len(writer.parts)
            for item_key, line in waiting[partition]:
                if item_key not in logged:
                    writer.write_line(line)
            return writer.close()[uploaded:]

        # a part per partition touched (a day of history each): made Parquet and PUT BACKFILL_UPLOAD_THREADS at a time
        with ThreadPoolExecutor(BACKFILL_UPLOAD_THREADS) as pool:
            ordered = sorted(waiting)
            for (dataset, on), new in zip(ordered, pool.map(write, ordered), strict=True):
                parts.extend({"dataset": dataset, "dt": on, "key": p.key, "rows": p.rows, "bytes": p.bytes}
                             for p in new)
        waiting.clear()
        record(complete)

    today = local_today(config.timezone)
    with ThreadPoolExecutor(BACKFILL_ENGAGEMENT_THREADS) as adders:  # a transaction per customer: overlapped
        for batch in export_source.segment_groups(segment, total):
            adds = [add for pk, items in batch for add in engagement_adds(pk, items, today, snap)]
            list(adders.map(lambda add: engagement.add(*add), adds))
            for _, items in batch:
                for item_key, (dataset, at, row) in ex.facts_stored_before(items, key, snap, begins):
                    on = str(snap.local_date(at))
                    if on < EXPORT_EARLIEST_DATE:  # where the Glue tables' dt projection does not reach
                        skipped += 1
                        continue
                    line = export_files.line_of(row)
                    waiting[(dataset, on)].append((item_key, line))
                    held += len(line)
            if held >= BACKFILL_BUFFER_BYTES:
                upload(complete=False)
                held = 0
    upload(complete=True)
    if previous:  # an attempt before this one: delete what it wrote and this one did not
        written = {p["key"] for p in parts}
        _delete([k for k in _keys_of_segment(bucket, backfill_id, segment, {"partitions": sorted(touched)})
                 if k not in written])
    backfills.segment_done(backfill_id, segment, now_epoch=_epoch(), lease_seconds=BACKFILL_LEASE_SECONDS)
    rows = sum(p["rows"] for p in parts)
    if skipped:
        count("FactsBackfillBeforeEarliestDate", skipped)
    logger().info("facts backfill segment done", extra={"backfill_id": backfill_id, "segment": segment,
                                                        "rows": rows, "parts": len(parts), "too_old": skipped})
    return {"segment": segment, "rows": rows, "parts": len(parts), "too_old": skipped}


Add = tuple[str, list[str], str | None, list[str]]  # engagement.add's customer id, contacts, older_last, messages


def engagement_adds(group_pk: str, items: list[dict[str, Any]], today: date, snap: ex.Snapshot) -> list[Add]:
    """What history adds to the engagement items (chalicelib/domain/engagement.py), which the nightly analyses
    read: a customer's contacts of the last ENGAGEMENT_DAYS and the newest older one's time, their messages of the
    last MESSAGE_DAYS; a campaign's messages sent, each to its customer's item. Adding what the stream consumer
    added already changes nothing."""
    from chalicelib.domain import engagement as eng
    from chalicelib.persistence import engagement

    customer_id = engagement.customer_of(group_pk)
    if customer_id is not None:
        interactions = [i for i in items if i.get("type") == "interaction"]
        contacts = [c for i in interactions if (c := eng.contact_from(i)) is not None]
        messages = eng.recent_messages((m for i in interactions if (m := eng.message_from(i)) is not None), today,
                                       local_day=snap.local_day)
        if not contacts and not messages:
            return []
        kept, older = eng.split(contacts, today, local_day=snap.local_day)
        return [(customer_id, kept, older, messages)]
    campaign = next((i for i in items if i.get("type") == "campaign"), None)
    if campaign is None:
        return []
    adds: list[Add] = []
    for recipient in items:
        message = eng.campaign_message(recipient, str(campaign["channel"])) \
            if recipient.get("type") == "campaign_recipient" else None
        sent = eng.recent_messages((message,), today, local_day=snap.local_day) if message is not None else []
        if sent:
            adds.append((str(recipient["customer_id"]), [], None, sent))
    return adds


def _delete(keys: list[str]) -> None:
    """Delete the keys; PartsLeft (the step is retried) for any S3 did not delete."""
    from chalicelib.persistence import export_files

    if keys and export_files.delete_keys(settings().export_bucket, keys):
        raise PartsLeft(f"{len(keys)} key(s) to delete, some left")


def _keys_of_segment(bucket: str, backfill_id: str, segment: int, manifest: dict[str, Any]) -> list[str]:
    """Every part an attempt of the segment may have written: listed in the partitions its manifest names."""
    from chalicelib.persistence import export_files

    return export_files.parts_named(bucket, [(str(d), str(on)) for d, on in manifest.get("partitions", [])],
                                    export_files.backfill_part_name(backfill_id, segment))


def _parts_of(bucket: str, backfill_id: str) -> tuple[list[str], list[str]]:
    """(every part any attempt of any segment of the backfill wrote, its manifests): read from its files, so a
    backfill that died without a word is found as well as one that finished."""
    from chalicelib.persistence import export_files

    files = export_files.keys_under(bucket, f"{export_files.BACKFILL_PREFIX}/{backfill_id}/")
    parts: list[str] = []
    for manifest_key in files:
        tail = manifest_key.rsplit("/", 1)[1]
        if tail.startswith("s") and tail.endswith(".json"):
            manifest = export_files.read_json(bucket, manifest_key) or {}
            parts += _keys_of_segment(bucket, backfill_id, int(tail[1:-5]), manifest)
    return parts, files


def _segment_manifests(bucket: str, backfill_id: str, total: int) -> list[dict[str, Any] | None]:
    from chalicelib.persistence import export_files

    return [export_files.read_json(bucket, export_files.backfill_segment_key(backfill_id, s)) for s in range(total)]


def finish(backfill_id: str, before: date, total: int) -> dict[str, Any]:
    """Every segment done: list the parts, make the backfill current, then delete what owned those facts before
    (every other backfill's parts, the nightly runs' parts of the days before `before`). Safe to run again;
    DayBeingExported while a nightly run of such a day is still exporting (the state machine retries), LostLease
    when another backfill took over (not retried)."""
    from chalicelib.persistence import analytics_results, backfills, change_log, export_files

    bucket = settings().export_bucket
    done = backfills.get(backfill_id) or {}
    if done.get("status") == "succeeded":  # a redelivered finish
        return {"backfill_id": backfill_id, "status": "succeeded", "rows": done.get("rows"), "parts": done.get("parts")}
    manifests = _segment_manifests(bucket, backfill_id, total)
    if not all(m and m.get("complete") for m in manifests):
        raise SegmentsMissing(f"{sum(1 for m in manifests if not (m and m.get('complete')))} segment(s) not done")
    parts = [p for m in manifests for p in (m or {}).get("parts", [])]
    rows = sum(int(p["rows"]) for p in parts)
    export_files.write_json(bucket, export_files.backfill_manifest_key(backfill_id), {
        "backfill_id": backfill_id, "before": before.isoformat(), "schema_version": ex.SCHEMA_VERSION,
        "format": ex.FACT_FILE_EXTENSION, "segments": total, "rows": rows, "parts": parts, "written_at": iso(utcnow())})
    # the schema its segments wrote (one begun before a deployment wrote the older one)
    if not backfills.make_current(backfill_id, before.isoformat(), int(done.get("facts_schema") or 0)):
        raise LostLease(backfill_id)
    # a run of an owned day that began before the switch may still write that day's facts: wait for it
    first, last = before - timedelta(days=change_log.CHANGE_LOG_DAYS), before - timedelta(days=1)
    now = _epoch()
    busy = [r["date"] for r in analytics_results.runs_between(first.isoformat(), last.isoformat())
            if r["status"] in analytics_results.ACTIVE and int(r["lease_until"]) >= now]
    if busy:
        raise DayBeingExported(f"{len(busy)} day(s) being exported")
    replaced = 0
    for other in export_files.backfill_ids(bucket):  # every other backfill: an older one, or one that died
        if other != backfill_id:
            old_parts, old_files = _parts_of(bucket, other)
            _delete(old_parts)
            _delete(old_files)  # its manifests last: until its parts are gone they say where they are
            replaced += len(old_parts)
    for day, manifest_key in export_files.facts_manifest_days(bucket):
        if day < before.isoformat():
            content = export_files.read_json(bucket, manifest_key) or {}
            nightly = export_files.facts_keys_of(bucket, day, content)  # a run of the day that died too
            _delete(nightly)
            _delete([manifest_key])
            replaced += len(nightly)
    retired = export_files.retired_keys(bucket)  # a retired dataset's days, the facts' files before Parquet
    _delete(retired)
    # the analyses of the days exported before history's contacts were in the engagement items: the next night's
    # catch-up exports them again (chalicelib/workflows/analytics.py missed_days)
    yesterday = local_today(settings().timezone) - timedelta(days=1)
    redo = before - timedelta(days=CATCH_UP_DAYS)
    while redo <= yesterday:
        change_log.mark_late(redo)
        redo += timedelta(days=1)
    backfills.finish(backfill_id, status="succeeded", now_epoch=_epoch(), rows=rows, parts=len(parts))
    count("FactsBackfillSucceeded")
    logger().info("facts backfill done", extra={"backfill_id": backfill_id, "rows": rows, "parts": len(parts),
                                                "replaced": replaced, "retired": len(retired)})
    return {"backfill_id": backfill_id, "status": "succeeded", "rows": rows, "parts": len(parts)}


def abandon(backfill_id: str, total: int, *, final: bool) -> dict[str, Any]:
    """A segment or the finish failed for good. First pass: record the failure (segments still running stop at
    their next upload) and delete what the segments wrote; the last pass, after the state machine has waited
    for segments still running: delete again, then the manifests. If the backfill had been made current, only
    its cleanup failed: its parts are the facts and stay."""
    from chalicelib.persistence import backfills

    bucket = settings().export_bucket
    current = backfills.current()
    manifests = _segment_manifests(bucket, backfill_id, total)
    if current and current.get("id") == backfill_id:
        error = "CleanupIncomplete"
    else:
        error = "FinishFailed" if all(m and m.get("complete") for m in manifests) else "SegmentFailed"
    record = backfills.get(backfill_id) or {}
    if record.get("status") == "running":
        backfills.finish(backfill_id, status="failed", now_epoch=_epoch(), error=error)
        count("FactsBackfillFailed")
        logger().warning("facts backfill failed", extra={"backfill_id": backfill_id, "error": error})
    if error != "CleanupIncomplete":
        parts, files = _parts_of(bucket, backfill_id)
        _delete(parts)
        if final:
            _delete(files)
    return {"backfill_id": backfill_id, "status": "failed", "error": str(record.get("error") or error)}
