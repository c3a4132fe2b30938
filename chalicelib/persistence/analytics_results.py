"""What the export job leaves in the analytics table for the API.

    pk=EXPORT          sk=<YYYY-MM-DD>   the latest run of that day's export (status, rows, bytes)
    pk=EXPORT#<day>    sk=<run_id>       every run of that day's export, as it ended (run ids are ULIDs: newest last;
                                         TTL expires_at 400 days on, with the day's snapshot in S3)
    pk=CHURN#<branch>  sk=LATEST         the branch's most at-risk customers of the newest export
    pk=ANOM#ALL        sk=LATEST         anomalies of the newest export's recent days
    pk=INSIGHTS#ALL    sk=LATEST         segments and churn bands per branch, recent root causes, growing ones
    pk=MONEY#<branch>  sk=LATEST         the money analyses of the branch: profitability per month and its most
                                         valuable customers, products bought together, transaction flags, forecast
    pk=MONEY#all       sk=LATEST         products bought together in every branch

A run holds a lease while it works (EXPORT_LEASE_SECONDS), so a schedule and
an on-demand request for the same day never write at once; a run that died
lets the next one in after its lease. The LATEST items are only replaced by an
export of the same or a later day, so re-running an old day does not turn the
API's numbers back.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from chalicelib.aws import cancellation_codes, client, error_code
from chalicelib.config import settings
from chalicelib.domain.errors import Conflict
from chalicelib.persistence.raw import plain_item

EXPORT_PK = "EXPORT"
LATEST_SK = "LATEST"
ACTIVE = ("queued", "running")


def churn_pk(branch_id: str) -> str:
    return f"CHURN#{branch_id}"


ANOMALIES_PK = "ANOM#ALL"
INSIGHTS_PK = "INSIGHTS#ALL"


def attribute_values(values: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    decimals = json.loads(json.dumps(values), parse_float=Decimal)
    return {k: serializer.serialize(v) for k, v in decimals.items() if v is not None}


def _table() -> str:
    return settings().analytics_table_name


RUN_HISTORY_SECONDS = 400 * 86400  # a day's run history expires (TTL expires_at) with its S3 snapshot


def runs_pk(day: str) -> str:
    return f"EXPORT#{day}"


def lost_condition(error: Exception) -> bool:
    """A write (or a transaction's first write) refused by its condition."""
    return error_code(error) == "ConditionalCheckFailedException" \
        or cancellation_codes(error)[:1] == ["ConditionalCheckFailed"]


def request_run(day: str, run_id: str, *, trigger: str, requested_by: str | None, now_epoch: int,
                lease_seconds: int) -> dict[str, Any]:
    """Record a queued run; 409 while another run of that day is queued or running."""
    record = {"pk": EXPORT_PK, "sk": day, "date": day, "run_id": run_id, "status": "queued", "trigger": trigger,
              "requested_by": requested_by, "requested_at_epoch": now_epoch, "lease_until": now_epoch + lease_seconds}
    try:
        client("dynamodb").transact_write_items(TransactItems=[
            {"Put": {"TableName": _table(), "Item": attribute_values(record),
                     "ConditionExpression": "attribute_not_exists(pk) OR NOT #s IN (:queued, :running) "
                                            "OR lease_until < :now",
                     "ExpressionAttributeNames": {"#s": "status"},
                     "ExpressionAttributeValues": {":queued": {"S": "queued"}, ":running": {"S": "running"},
                                                   ":now": {"N": str(now_epoch)}}}},
            {"Put": {"TableName": _table(), "Item": attribute_values({**record, "pk": runs_pk(day), "sk": run_id,
                                                            "expires_at": now_epoch + RUN_HISTORY_SECONDS})}},
        ])
    except Exception as error:
        if lost_condition(error):
            raise Conflict("An export of that date is already queued or running; try again when it has finished.") \
                from None
        raise
    return record


def begin_run(day: str, run_id: str, *, trigger: str, now_epoch: int, lease_seconds: int) -> bool:
    """Take the day's lease for `run_id` (its own queued record, or a day nobody holds). False: someone else holds it.

    The record then describes this run only: the previous run's outcome and
    datasets go, and so does a request unless this run is the one requested.
    """
    remove = "finished_at_epoch, #e, datasets" + ("" if trigger == "api" else ", requested_by, requested_at_epoch")
    names = {"#s": "status", "#d": "date", "#t": "trigger"}
    values = {":running": {"S": "running"}, ":run": {"S": run_id}, ":day": {"S": day}, ":trigger": {"S": trigger},
              ":now": {"N": str(now_epoch)}, ":lease": {"N": str(now_epoch + lease_seconds)}}
    started = "SET #s = :running, run_id = :run, #d = :day, #t = :trigger, started_at_epoch = :now, lease_until = :lease"
    history = {":expires": {"N": str(now_epoch + RUN_HISTORY_SECONDS)}}
    try:
        client("dynamodb").transact_write_items(TransactItems=[
            {"Update": {
                "TableName": _table(), "Key": {"pk": {"S": EXPORT_PK}, "sk": {"S": day}},
                "UpdateExpression": f"{started} REMOVE {remove}",
                "ConditionExpression": "attribute_not_exists(pk) OR run_id = :run OR NOT #s IN (:queued, :running) "
                                       "OR lease_until < :now",
                "ExpressionAttributeNames": {**names, "#e": "error"},
                "ExpressionAttributeValues": {**values, ":queued": {"S": "queued"}},
            }},
            # the run's entry in the day's history (its request's entry, if it was requested)
            {"Update": {"TableName": _table(), "Key": {"pk": {"S": runs_pk(day)}, "sk": {"S": run_id}},
                        "UpdateExpression": started + ", expires_at = :expires", "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {**values, **history}}},
        ])
    except Exception as error:
        if lost_condition(error):
            return False
        raise
    return True


def finish_run(day: str, run_id: str, *, status: str, now_epoch: int, datasets: dict[str, Any] | None = None,
               error: str | None = None) -> None:
    """Record the outcome in the day's record if `run_id` still holds the day, and in the run's history entry."""
    values: dict[str, Any] = {":status": {"S": status}, ":now": {"N": str(now_epoch)}, ":run": {"S": run_id}}
    update = "SET #s = :status, finished_at_epoch = :now, lease_until = :now"
    names = {"#s": "status"}
    if datasets is not None:
        update += ", datasets = :datasets"
        values[":datasets"] = attribute_values({"d": datasets})["d"]
    if error is not None:
        update += ", #e = :error"
        names["#e"] = "error"
        values[":error"] = {"S": error}
    history = {"TableName": _table(), "Key": {"pk": {"S": runs_pk(day)}, "sk": {"S": run_id}},
               "UpdateExpression": update, "ConditionExpression": "run_id = :run",
               "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    try:
        client("dynamodb").transact_write_items(TransactItems=[
            {"Update": {**history, "Key": {"pk": {"S": EXPORT_PK}, "sk": {"S": day}}}}, {"Update": history}])
    except Exception as error_:
        if not lost_condition(error_):
            raise
        try:  # the run lost the day (its lease ran out and another run took it): its history still says how it ended
            client("dynamodb").update_item(**history)
        except Exception as missing:
            if error_code(missing) != "ConditionalCheckFailedException":
                raise


def get_run(day: str) -> dict[str, Any] | None:
    item = client("dynamodb").get_item(TableName=_table(), Key={"pk": {"S": EXPORT_PK}, "sk": {"S": day}},
                                       ConsistentRead=True).get("Item")
    return plain_item(item) if item else None


def runs_of(day: str, limit: int) -> list[dict[str, Any]]:
    """The day's runs, newest first (at most `limit`); one Query."""
    page = client("dynamodb").query(
        TableName=_table(), KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": runs_pk(day)}},
        ScanIndexForward=False, Limit=limit, ConsistentRead=True)
    return [plain_item(i) for i in page.get("Items", [])]


def runs_between(first: str, last: str) -> list[dict[str, Any]]:
    """The latest run of each day from `first` to `last` (the catch-up's week, the backfill's 35 days: well within
    one page); one Query."""
    page = client("dynamodb").query(
        TableName=_table(), KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
        ExpressionAttributeValues={":pk": {"S": EXPORT_PK}, ":first": {"S": first}, ":last": {"S": last}},
        ConsistentRead=True)
    return [plain_item(i) for i in page.get("Items", [])]


def list_runs(limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Runs newest day first; one Query. Only the days' records: the partition also holds LATEST and the change
    log's LATE#<day> marks, whose keys sort after every date (letters after digits)."""
    params: dict[str, Any] = {
        "TableName": _table(), "KeyConditionExpression": "pk = :pk AND sk < :letters",
        "ExpressionAttributeValues": {":pk": {"S": EXPORT_PK}, ":letters": {"S": "A"}}, "ScanIndexForward": False,
        "Limit": limit,
    }
    if start:
        params["ExclusiveStartKey"] = start
    page = client("dynamodb").query(**params)
    return [plain_item(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")


def _put_latest(pk: str, as_of: str, content: dict[str, Any]) -> bool:
    """Replace the LATEST item unless it comes from a later day's export."""
    try:
        client("dynamodb").put_item(
            TableName=_table(), Item=attribute_values({"pk": pk, "sk": LATEST_SK, "as_of": as_of, **content}),
            ConditionExpression="attribute_not_exists(pk) OR as_of <= :as_of",
            ExpressionAttributeValues={":as_of": {"S": as_of}},
        )
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def _get_latest(pk: str) -> dict[str, Any] | None:
    item = client("dynamodb").get_item(TableName=_table(), Key={"pk": {"S": pk}, "sk": {"S": LATEST_SK}}).get("Item")
    return plain_item(item) if item else None


def put_churn(branch_id: str, as_of: str, run_id: str, customers: list[dict[str, Any]]) -> bool:
    return _put_latest(churn_pk(branch_id), as_of, {"run_id": run_id, "customers": customers})


def get_churn(branch_id: str) -> dict[str, Any] | None:
    return _get_latest(churn_pk(branch_id))


def put_anomalies(as_of: str, run_id: str, anomalies: list[dict[str, Any]], *, truncated: bool) -> bool:
    return _put_latest(ANOMALIES_PK, as_of, {"run_id": run_id, "anomalies": anomalies, "truncated": truncated})


def get_anomalies() -> dict[str, Any] | None:
    return _get_latest(ANOMALIES_PK)


def put_insights(as_of: str, run_id: str, content: dict[str, Any]) -> bool:
    return _put_latest(INSIGHTS_PK, as_of, {"run_id": run_id, **content})


def get_insights() -> dict[str, Any] | None:
    return _get_latest(INSIGHTS_PK)


def money_pk(scope: str) -> str:
    return f"MONEY#{scope}"


def put_money(scope: str, as_of: str, run_id: str, content: dict[str, Any]) -> bool:
    """The money analyses of a branch (or "all") of the newest export."""
    return _put_latest(money_pk(scope), as_of, {"run_id": run_id, **content})


def get_money(scopes: list[str]) -> dict[str, dict[str, Any]]:
    """The newest money analyses of these scopes (branches, "all"): one BatchGetItem (up to 100 keys)."""
    keys = [{"pk": {"S": money_pk(s)}, "sk": {"S": LATEST_SK}} for s in dict.fromkeys(scopes)]
    found: dict[str, dict[str, Any]] = {}
    request = {_table(): {"Keys": keys}}
    while request:
        page = client("dynamodb").batch_get_item(RequestItems=request)
        for raw in page.get("Responses", {}).get(_table(), []):
            item = plain_item(raw)
            found[str(item["pk"]).removeprefix("MONEY#")] = item
        request = page.get("UnprocessedKeys") or {}
    return found
