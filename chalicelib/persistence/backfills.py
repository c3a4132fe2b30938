"""The facts backfill's records in the analytics table.

    pk=BACKFILL  sk=<backfill id>  one backfill (ids are ULIDs: newest last): status, the day before which it
                                   owns the facts (`before`), segments and those done, rows, parts, requester
    pk=BACKFILL  sk=LEASE          the backfill running now (`id`, `lease_until`): one at a time
    pk=BACKFILL  sk=CURRENT        the last backfill that succeeded (`id`, `before`, `facts_schema`): the
                                   nightly facts runs leave the days before `before` to it

The lease is taken with the backfill's record in one transaction and given
back, with the outcome, in another; a backfill whose workflow died without
saying so lets the next one in after BACKFILL_LEASE_SECONDS.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from chalicelib.aws import cancellation_codes, client, error_code
from chalicelib.config import settings
from chalicelib.domain.errors import Conflict
from chalicelib.persistence.analytics_results import attribute_values, lost_condition
from chalicelib.persistence.raw import plain_item

BACKFILL_PK = "BACKFILL"
LEASE_SK = "LEASE"
CURRENT_SK = "CURRENT"
AUTOMATIC = "nightly"  # requested_by of a backfill the nightly run started (chalicelib/workflows/backfill.py)


def _table() -> str:
    return settings().analytics_table_name


def _key(sk: str) -> dict[str, Any]:
    return {"pk": {"S": BACKFILL_PK}, "sk": {"S": sk}}


def begin(backfill_id: str, *, before: str, segments: int, requested_by: str | None, now_epoch: int,
          lease_seconds: int, facts_schema: int) -> dict[str, Any]:
    """Record a running backfill and take the lease; 409 while another one holds it."""
    record = {"id": backfill_id, "status": "running", "before": before, "segments": segments,
              "requested_by": requested_by, "started_at_epoch": now_epoch, "lease_until": now_epoch + lease_seconds,
              "facts_schema": facts_schema}
    item = {**attribute_values(record), **_key(backfill_id)}
    try:
        client("dynamodb").transact_write_items(TransactItems=[
            {"Put": {"TableName": _table(),
                     "Item": {**_key(LEASE_SK), "id": {"S": backfill_id},
                              "lease_until": {"N": str(now_epoch + lease_seconds)}},
                     "ConditionExpression": "attribute_not_exists(pk) OR lease_until < :now",
                     "ExpressionAttributeValues": {":now": {"N": str(now_epoch)}}}},
            {"Put": {"TableName": _table(), "Item": item}},
        ])
    except Exception as error:
        # another request took the lease first, or was taking it at the same instant
        if lost_condition(error) or "TransactionConflict" in cancellation_codes(error):
            raise Conflict("A backfill is already running; try again when it has finished.") from None
        raise
    return record


class BackfillStopped(Exception):
    """The backfill is no longer running (it failed, or lost its lease to another): its segments write no more."""


def still_running(backfill_id: str) -> None:
    """Raises BackfillStopped unless the backfill is running (a segment asks before each upload)."""
    record = get(backfill_id)
    if record is None or record["status"] != "running":
        raise BackfillStopped(backfill_id)


def segment_done(backfill_id: str, segment: int, *, now_epoch: int, lease_seconds: int) -> None:
    """Add the segment to those done (a set: a retried or redelivered segment counts once) and renew the lease, if
    the backfill is still running and holds it; else BackfillStopped."""
    try:
        client("dynamodb").transact_write_items(TransactItems=[
            {"Update": {"TableName": _table(), "Key": _key(backfill_id), "UpdateExpression": "ADD done :segment",
                        "ConditionExpression": "#s = :running", "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":segment": {"NS": [str(segment)]},
                                                      ":running": {"S": "running"}}}},
            {"Update": {"TableName": _table(), "Key": _key(LEASE_SK), "UpdateExpression": "SET lease_until = :until",
                        "ConditionExpression": "id = :id",
                        "ExpressionAttributeValues": {":id": {"S": backfill_id},
                                                      ":until": {"N": str(now_epoch + lease_seconds)}}}},
        ])
    except Exception as error:
        if "ConditionalCheckFailed" in cancellation_codes(error):
            raise BackfillStopped(backfill_id) from None
        raise


def make_current(backfill_id: str, before: str, facts_schema: int) -> bool:
    """The backfill owns the facts before `before` from now on, if it still holds the lease (False: it lost it)."""
    try:
        client("dynamodb").transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": _table(), "Key": _key(LEASE_SK), "ConditionExpression": "id = :id",
                                "ExpressionAttributeValues": {":id": {"S": backfill_id}}}},
            {"Put": {"TableName": _table(), "Item": {**_key(CURRENT_SK), "id": {"S": backfill_id},
                                                      "before": {"S": before},
                                                      "facts_schema": {"N": str(facts_schema)}}}},
        ])
    except Exception as error:
        if lost_condition(error):
            return False
        raise
    return True


def finish(backfill_id: str, *, status: str, now_epoch: int, rows: int | None = None, parts: int | None = None,
           error: str | None = None) -> None:
    """Record the outcome and give the lease back (if this backfill still holds it)."""
    values: dict[str, Any] = {":status": {"S": status}, ":now": {"N": str(now_epoch)}}
    update = "SET #s = :status, finished_at_epoch = :now, lease_until = :now"
    names = {"#s": "status"}
    for name, value in (("rows", rows), ("parts", parts)):  # ROWS is a reserved word
        if value is not None:
            update += f", #{name} = :{name}"
            names[f"#{name}"] = name
            values[f":{name}"] = {"N": str(value)}
    if error is not None:
        update += ", #e = :error"
        names["#e"] = "error"
        values[":error"] = {"S": error}
    client("dynamodb").update_item(TableName=_table(), Key=_key(backfill_id), UpdateExpression=update,
                                   ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    try:  # given back: run out a second ago (the next backfill may begin at once)
        client("dynamodb").update_item(TableName=_table(), Key=_key(LEASE_SK), ConditionExpression="id = :id",
                                       UpdateExpression="SET lease_until = :gone",
                                       ExpressionAttributeValues={":id": {"S": backfill_id},
                                                                  ":gone": {"N": str(now_epoch - 1)}})
    except Exception as lost:
        if error_code(lost) != "ConditionalCheckFailedException":  # its lease ran out and another one took it
            raise


def get(backfill_id: str) -> dict[str, Any] | None:
    item = client("dynamodb").get_item(TableName=_table(), Key=_key(backfill_id), ConsistentRead=True).get("Item")
    return plain_item(item) if item else None


def latest() -> dict[str, Any] | None:
    """The backfill begun last, whatever became of it, or None: one Query (ids sort before LEASE and CURRENT)."""
    items = client("dynamodb").query(
        TableName=_table(), KeyConditionExpression="pk = :pk AND sk < :letters", ScanIndexForward=False, Limit=1,
        ConsistentRead=True, ExpressionAttributeValues={":pk": {"S": BACKFILL_PK}, ":letters": {"S": "A"}},
    ).get("Items", [])
    return plain_item(items[0]) if items else None


def current() -> dict[str, Any] | None:
    """The last backfill that succeeded ({id, before, facts_schema}), or None."""
    item = client("dynamodb").get_item(TableName=_table(), Key=_key(CURRENT_SK), ConsistentRead=True).get("Item")
    return plain_item(item) if item else None


def owned_before() -> date | None:
    """The day before which the current backfill owns the facts (the nightly runs of those days write none)."""
    found = current()
    return date.fromisoformat(str(found["before"])) if found else None
