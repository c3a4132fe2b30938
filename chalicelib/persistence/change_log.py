"""The change log: which facts and entities each day brought, so the nightly export reads the day, not history.

    pk=CHG#<local day>#<shard>   sk=<item pk>|<item sk>   one item of the CRM table: a new fact, or an entity
                                                          created, changed or deleted that day (analytics table;
                                                          TTL expires_at CHANGE_LOG_DAYS on)
    pk=EXPORT                    sk=LATE#<local day>      `at_epoch`: the last time a fact of that day was
                                                          logged after the day had ended (catch-up reads it)

The stream consumer (chalicelib/workflows/stream.py) logs what each batch
brings (chalicelib/domain/exports.py `is_logged`) before it handles the
batch, in BatchWriteItem calls: a key written twice is one item, so a
redelivered or redriven batch, or an entity changed ten times that day, logs
nothing more. The day is the local day of
the stream record's creation (the change's time, the same on every delivery),
spread over CHANGE_LOG_SHARDS partitions by a hash of the item key. A fact
logged after its day ended (a consumer that was behind, a redrive) also marks
the day late; the nightly catch-up then exports that day again
(chalicelib/workflows/analytics.py `catch_up`).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.aws import client
from chalicelib.config import settings
from chalicelib.domain.clock import utcnow
from chalicelib.domain.exports import is_logged

CHANGE_LOG_SHARDS = 16  # a day's facts spread over this many partitions (DynamoDB's per-partition write limit)
CHANGE_LOG_DAYS = 35  # log items expire this long after their day (the catch-up looks back 7 days)
_WRITE_BATCH = 25  # BatchWriteItem's limit
_READ_BATCH = 100  # BatchGetItem's limit
_SEPARATOR = "|"
LATE_PREFIX = "LATE#"


def _table() -> str:
    return settings().analytics_table_name


def shard_of(pk: str, sk: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{pk}{_SEPARATOR}{sk}".encode(), digest_size=2).digest(), "big") \
        % CHANGE_LOG_SHARDS


def log_pk(day: date, shard: int) -> str:
    return f"CHG#{day.isoformat()}#{shard:02d}"


def _image_fields(image: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The few attributes `is_logged` looks at, from a stream image (DynamoDB JSON)."""
    if not image:
        return None
    return {name: str(image[name].get("S")) for name in ("type", "delivery", "status")
            if name in image and "S" in image[name]}


def changes_in(records: Iterable[Mapping[str, Any]], timezone: str) -> set[tuple[str, str, date]]:
    """(pk, sk, local day) of each stream record the export needs: a new fact, or a change of an entity the delta
    datasets follow (an entity changed on both sides of midnight in one batch: under both days)."""
    zone = ZoneInfo(timezone)
    found: set[tuple[str, str, date]] = set()
    for record in records:
        body = record.get("dynamodb") or {}
        keys = body.get("Keys") or {}
        if not is_logged(_image_fields(body.get("OldImage")), _image_fields(body.get("NewImage"))):
            continue
        created = float(body.get("ApproximateCreationDateTime") or utcnow().timestamp())
        found.add((str(keys["pk"]["S"]), str(keys["sk"]["S"]),
                   datetime.fromtimestamp(created, UTC).astimezone(zone).date()))
    return found


def record(records: Iterable[Mapping[str, Any]]) -> int:
    """Log the changes the export needs among these stream records; returns how many. Idempotent."""
    config = settings()
    changes = changes_in(records, config.timezone)
    if not changes:
        return 0
    requests = []
    for pk, sk, day in sorted(changes):
        expires = datetime.combine(day + timedelta(days=CHANGE_LOG_DAYS), datetime.min.time(), tzinfo=UTC)
        requests.append({"PutRequest": {"Item": {
            "pk": {"S": log_pk(day, shard_of(pk, sk))}, "sk": {"S": f"{pk}{_SEPARATOR}{sk}"},
            "expires_at": {"N": str(int(expires.timestamp()))}}}})
    for start in range(0, len(requests), _WRITE_BATCH):
        _write(requests[start:start + _WRITE_BATCH])
    today = utcnow().astimezone(ZoneInfo(config.timezone)).date()
    for day in sorted({d for _, _, d in changes if d < today}):
        mark_late(day)
    return len(changes)


def _write(requests: list[dict[str, Any]]) -> None:
    pending = {_table(): requests}
    for attempt in range(8):
        answer = client("dynamodb").batch_write_item(RequestItems=pending)
        pending = answer.get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(random.uniform(0, 0.05 * 2 ** attempt))  # throttled: back off (jittered), then the rest again
    raise RuntimeError("the change log could not be written (throttled)")  # the batch is retried whole


def holds(day: date, today: date) -> bool:
    """Does the log still hold every item of `day`? (TTL deletes them from CHANGE_LOG_DAYS on; a margin of two days.)
    A re-run of an older day must leave its facts and deltas as they are: the log can no longer say what they were."""
    return (today - day).days <= CHANGE_LOG_DAYS - 2


def mark_late(day: date) -> None:
    """A fact of `day` was logged after the day ended: the catch-up compares this with the day's last run."""
    now = int(utcnow().timestamp())
    client("dynamodb").put_item(TableName=_table(), Item={
        "pk": {"S": "EXPORT"}, "sk": {"S": f"{LATE_PREFIX}{day.isoformat()}"},
        "at_epoch": {"N": str(now)}, "expires_at": {"N": str(now + CHANGE_LOG_DAYS * 86400)}})


def late_marks(first: date, last: date) -> dict[str, int]:
    """local day -> when a fact of it was last logged late (epoch seconds), for the days first..last: one Query."""
    marks: dict[str, int] = {}
    pages = client("dynamodb").get_paginator("query").paginate(
        TableName=_table(), KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":pk": {"S": "EXPORT"}, ":a": {"S": f"{LATE_PREFIX}{first.isoformat()}"},
                                   ":b": {"S": f"{LATE_PREFIX}{last.isoformat()}"}})
    for page in pages:
        for item in page.get("Items", []):
            marks[item["sk"]["S"].removeprefix(LATE_PREFIX)] = int(item["at_epoch"]["N"])
    return marks


def keys_of(day: date) -> list[tuple[str, str]]:
    """Every item logged for `day`, in key order: one Query (paged) per shard."""
    keys: list[tuple[str, str]] = []
    paginator = client("dynamodb").get_paginator("query")
    for shard in range(CHANGE_LOG_SHARDS):
        for page in paginator.paginate(TableName=_table(), KeyConditionExpression="pk = :pk",
                                       ExpressionAttributeValues={":pk": {"S": log_pk(day, shard)}},
                                       ProjectionExpression="sk"):
            for item in page.get("Items", []):
                pk, _, sk = item["sk"]["S"].partition(_SEPARATOR)
                keys.append((pk, sk))
    keys.sort()
    return keys


def items(keys: list[tuple[str, str]]) -> Iterator[tuple[tuple[str, str], dict[str, Any] | None]]:
    """(key, the CRM table's item as it is now (plain values), or None if it is gone), BatchGetItem by 100, in the
    keys' order (BatchGetItem answers in any order: a re-run must write the same rows in the same parts)."""
    from chalicelib.persistence.raw import plain_item

    table = settings().table_name
    for start in range(0, len(keys), _READ_BATCH):
        chunk = keys[start:start + _READ_BATCH]
        found: dict[tuple[str, str], dict[str, Any]] = {}
        request: dict[str, Any] = {table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in chunk]}}
        for attempt in range(20):
            answer = client("dynamodb").batch_get_item(RequestItems=request)
            for raw in answer.get("Responses", {}).get(table, []):
                item = plain_item(raw)
                found[(str(item["pk"]), str(item["sk"]))] = item
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(random.uniform(0, min(1.0, 0.05 * 2 ** attempt)))
        else:
            raise RuntimeError("the day's changes could not be read (throttled)")
        for key in chunk:
            yield key, found.get(key)
