"""What the export job leaves in the analytics table for the API.

    pk=EXPORT          sk=<YYYY-MM-DD>   the latest run of that day's export (status, rows, bytes)
    pk=CHURN#<branch>  sk=LATEST         the branch's most at-risk customers of the newest export
    pk=ANOM#ALL        sk=LATEST         anomalies of the newest export's recent days
    pk=INSIGHTS#ALL    sk=LATEST         segments and churn bands per branch, recent root causes, growing ones

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

from chalicelib.aws import client, error_code
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


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    decimals = json.loads(json.dumps(values), parse_float=Decimal)
    return {k: serializer.serialize(v) for k, v in decimals.items() if v is not None}


def _table() -> str:
    return settings().analytics_table_name


def request_run(day: str, run_id: str, *, trigger: str, requested_by: str | None, now_epoch: int,
                lease_seconds: int) -> dict[str, Any]:
    """Record a queued run; 409 while another run of that day is queued or running."""
    record = {"pk": EXPORT_PK, "sk": day, "date": day, "run_id": run_id, "status": "queued", "trigger": trigger,
              "requested_by": requested_by, "requested_at_epoch": now_epoch, "lease_until": now_epoch + lease_seconds}
    try:
        client("dynamodb").put_item(
            TableName=_table(), Item=_attrs(record),
            ConditionExpression="attribute_not_exists(pk) OR NOT #s IN (:queued, :running) OR lease_until < :now",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":queued": {"S": "queued"}, ":running": {"S": "running"},
                                       ":now": {"N": str(now_epoch)}},
        )
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
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
    try:
        client("dynamodb").update_item(
            TableName=_table(), Key={"pk": {"S": EXPORT_PK}, "sk": {"S": day}},
            UpdateExpression="SET #s = :running, run_id = :run, #d = :day, #t = :trigger, "
                             f"started_at_epoch = :now, lease_until = :lease REMOVE {remove}",
            ConditionExpression="attribute_not_exists(pk) OR run_id = :run OR NOT #s IN (:queued, :running) "
                                "OR lease_until < :now",
            ExpressionAttributeNames={"#s": "status", "#d": "date", "#t": "trigger", "#e": "error"},
            ExpressionAttributeValues={
                ":running": {"S": "running"}, ":queued": {"S": "queued"}, ":run": {"S": run_id},
                ":day": {"S": day}, ":trigger": {"S": trigger}, ":now": {"N": str(now_epoch)},
                ":lease": {"N": str(now_epoch + lease_seconds)},
            },
        )
    except Exception as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False
        raise
    return True


def finish_run(day: str, run_id: str, *, status: str, now_epoch: int, datasets: dict[str, Any] | None = None,
               error: str | None = None) -> None:
    """Record the outcome, if `run_id` still holds the day (a run that lost its lease records nothing)."""
    values: dict[str, Any] = {":status": {"S": status}, ":now": {"N": str(now_epoch)}, ":run": {"S": run_id}}
    update = "SET #s = :status, finished_at_epoch = :now, lease_until = :now"
    names = {"#s": "status"}
    if datasets is not None:
        update += ", datasets = :datasets"
        values[":datasets"] = _attrs({"d": datasets})["d"]
    if error is not None:
        update += ", #e = :error"
        names["#e"] = "error"
        values[":error"] = {"S": error}
    try:
        client("dynamodb").update_item(
            TableName=_table(), Key={"pk": {"S": EXPORT_PK}, "sk": {"S": day}}, UpdateExpression=update,
            ConditionExpression="run_id = :run", ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        )
    except Exception as error_:
        if error_code(error_) != "ConditionalCheckFailedException":
            raise


def get_run(day: str) -> dict[str, Any] | None:
    item = client("dynamodb").get_item(TableName=_table(), Key={"pk": {"S": EXPORT_PK}, "sk": {"S": day}},
                                       ConsistentRead=True).get("Item")
    return plain_item(item) if item else None


def list_runs(limit: int, start: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Runs newest day first; one Query."""
    params: dict[str, Any] = {
        "TableName": _table(), "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": EXPORT_PK}}, "ScanIndexForward": False, "Limit": limit,
    }
    if start:
        params["ExclusiveStartKey"] = start
    page = client("dynamodb").query(**params)
    return [plain_item(i) for i in page.get("Items", [])], page.get("LastEvaluatedKey")


def _put_latest(pk: str, as_of: str, content: dict[str, Any]) -> bool:
    """Replace the LATEST item unless it comes from a later day's export."""
    try:
        client("dynamodb").put_item(
            TableName=_table(), Item=_attrs({"pk": pk, "sk": LATEST_SK, "as_of": as_of, **content}),
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
