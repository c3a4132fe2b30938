"""Real-time aggregate counters in the analytics table (settings().analytics_table_name).

Items (docs/data-model.md, "Analytics table"):

    counters of a day   pk=AGG#<scope>  sk=DAY#<YYYY-MM-DD>   one numeric attribute per counter name
    current counters    pk=AGG#<scope>  sk=NOW
    counted record      pk=EVT#<eventID>  sk=EVT  expires_at=<epoch seconds>   (TTL)
    last reconciliation pk=RECONCILE#counters  sk=LAST   run_id, at, drift {scope|period|name: n}

Scope is a branch id, `unknown` or `ALL`. Counter names (chalicelib/domain/aggregates.py)
contain `|`, so every expression names them through ExpressionAttributeNames.

Exactly once: one stream record's deltas are applied in ONE TransactWriteItems
together with a Put of its marker `EVT#<eventID>` on condition that the marker
does not exist. A redelivered record finds the marker: the transaction is
cancelled with ConditionalCheckFailed on the marker alone, and nothing is
counted twice. Every record adds to the same `ALL` counters, so transactions of
records handled at once (one Lambda per shard) conflict: a cancellation for
TransactionConflict is retried here with jittered backoff (botocore does not
retry it), up to AGGREGATES_CONFLICT_RETRIES times. Any other cancellation
(throttling...) or a conflict that outlasts the retries is raised so the
record is retried by the event source mapping. The marker outlives the
stream's 24 hours of retention (AGGREGATES_EVENT_MARKER_TTL_SECONDS).

The raw client is used (not PynamoDB): counter names are dynamic attributes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.aws import cancellation_codes, client, error_code
from chalicelib.config import (
    AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS,
    AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS,
    AGGREGATES_CONFLICT_RETRIES,
    AGGREGATES_EVENT_MARKER_TTL_SECONDS,
    settings,
)
from chalicelib.domain.aggregates import NOW, CounterKey
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.persistence.errors import RETRYABLE

MARKER_SK = "EVT"
DAY_PREFIX = "DAY#"
MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


def counters_pk(scope: str) -> str:
    return f"AGG#{scope}"


def counters_sk(period: str) -> str:
    return NOW if period == NOW else f"{DAY_PREFIX}{period}"


def marker_pk(event_id: str) -> str:
    return f"EVT#{event_id}"


def _client() -> Any:
    return client("dynamodb")


def counter_updates(deltas: Mapping[CounterKey, int], *, table: str) -> list[dict[str, Any]]:
    """One UpdateItem (its parameters) per counter item touched: ADD of each of its counters' deltas."""
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for key, n in sorted(deltas.items()):
        if n:
            grouped.setdefault((key.scope, key.period), {})[key.name] = n
    updates = []
    for (scope, period), counters in grouped.items():
        names = {f"#c{i}": name for i, name in enumerate(counters)}
        values = {f":c{i}": {"N": str(n)} for i, n in enumerate(counters.values())}
        updates.append({
            "TableName": table,
            "Key": {"pk": {"S": counters_pk(scope)}, "sk": {"S": counters_sk(period)}},
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        })
    return updates


def transaction_items(event_id: str, deltas: Mapping[CounterKey, int], *, table: str,
                      expires_at: int) -> list[dict[str, Any]]:
    """The TransactWriteItems of one record: its marker first, then one ADD per counter item touched."""
    items: list[dict[str, Any]] = [{
        "Put": {
            "TableName": table,
            "Item": {"pk": {"S": marker_pk(event_id)}, "sk": {"S": MARKER_SK}, "expires_at": {"N": str(expires_at)}},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }]
    items += [{"Update": update} for update in counter_updates(deltas, table=table)]
    # A record touches at most a few days x (its branch, its old branch, ALL): far below the limit.
    assert len(items) <= MAX_TRANSACTION_ITEMS, f"{len(items)} items in one transaction"
    return items


def apply_once(event_id: str, deltas: Mapping[CounterKey, int]) -> str:
    """Apply one stream record's deltas unless that record was counted before.

    Returns "applied", "duplicate" (its marker exists: counted before) or
    "empty" (nothing to count: nothing written).
    """
    if not any(deltas.values()):
        return "empty"
    items = transaction_items(event_id, deltas, table=settings().analytics_table_name,
                              expires_at=int(time.time()) + AGGREGATES_EVENT_MARKER_TTL_SECONDS)
    for attempt in range(AGGREGATES_CONFLICT_RETRIES + 1):
        try:
            _client().transact_write_items(TransactItems=items)
            return "applied"
        except Exception as exc:
            codes = cancellation_codes(exc)
            if len(codes) == len(items) and codes[0] == "ConditionalCheckFailed" and \
                    all(c == "None" for c in codes[1:]):
                return "duplicate"  # the marker's condition failed (the record was counted) and nothing else
            if "TransactionConflict" in codes and attempt < AGGREGATES_CONFLICT_RETRIES:
                time.sleep(random.uniform(0, min(AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS,
                                                 AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS * 2 ** attempt)))
                continue
            if error_code(exc) in RETRYABLE or "TransactionConflict" in codes:
                raise ServiceUnavailable("The analytics table is busy; retry shortly.") from exc
            raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def _numbers(item: Mapping[str, Any]) -> dict[str, int]:
    return {name: int(value["N"]) for name, value in item.items() if "N" in value and name not in ("pk", "sk")}


def _days_and_now(client: Any, table: str, scope: str, first: str | None = None, last: str | None = None,
                  *, with_now: bool = True) -> tuple[dict[str, dict[str, int]], dict[str, int], int]:
    """({date: {name: n}}, {name: n} now, requests) of one scope: its days first..last (and NOW unless
    `with_now` is false), or all of its items."""
    days: dict[str, dict[str, int]] = {}
    now: dict[str, int] = {}
    requests = 0
    kwargs: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": counters_pk(scope)}}}
    if first is not None and last is not None:
        kwargs["KeyConditionExpression"] += " AND sk BETWEEN :first AND :last"
        kwargs["ExpressionAttributeValues"].update({":first": {"S": counters_sk(first)},
                                                    ":last": {"S": counters_sk(last)}})
    try:
        while True:
            page = client.query(**kwargs)
            requests += 1
            for item in page.get("Items", []):
                sk = item["sk"]["S"]
                if sk == NOW:
                    now = _numbers(item)
                elif sk.startswith(DAY_PREFIX):
                    days[sk[len(DAY_PREFIX):]] = _numbers(item)
            if not page.get("LastEvaluatedKey"):
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if first is not None and with_now:  # NOW sorts after DAY#...: read it by itself
            item = client.get_item(TableName=table, Key={"pk": {"S": counters_pk(scope)}, "sk": {"S": NOW}}).get("Item")
            requests += 1
            now = _numbers(item or {})
    except Exception as exc:
        if error_code(exc) in RETRYABLE:
            raise ServiceUnavailable("The analytics table is busy; retry shortly.") from exc
        raise
    return days, now, requests


def read(scope: str, first: str, last: str) -> tuple[dict[str, dict[str, int]], dict[str, int], int]:
    """The counters of `scope`: ({date: {name: n}} for first..last (YYYY-MM-DD), {name: n} now, requests made).

    One Query over the days (more pages only past 1 MB) and one GetItem for NOW.
    """
    return _days_and_now(_client(), settings().analytics_table_name, scope, first, last)


def read_days(scope: str, first: str, last: str) -> dict[str, dict[str, int]]:
    """The day counters of `scope` for first..last: one Query (more pages only past 1 MB)."""
    return _days_and_now(_client(), settings().analytics_table_name, scope, first, last, with_now=False)[0]


def read_all(scopes: Iterable[str]) -> dict[CounterKey, int]:
    """Every counter of these scopes (all days and NOW), non-zero ones: one Query per scope."""
    client, table = _client(), settings().analytics_table_name
    found: dict[CounterKey, int] = {}
    for scope in sorted(set(scopes)):
        days, now, _ = _days_and_now(client, table, scope)
        for period, counters in [*days.items(), (NOW, now)]:
            found.update({CounterKey(scope, period, name): n for name, n in counters.items() if n})
    return found


def add(deltas: Mapping[CounterKey, int]) -> None:
    """Add to counters without a record's marker (a repair): one UpdateItem ADD per counter item."""
    client = _client()
    for update in counter_updates(deltas, table=settings().analytics_table_name):  # the ADDs a record makes
        try:
            client.update_item(**update)
        except Exception as exc:
            if error_code(exc) in RETRYABLE:
                raise ServiceUnavailable("The analytics table is busy; retry shortly.") from exc
            raise


# --------------------------------------------------------------------------
# The reconciliation's state between runs (chalicelib/workflows/aggregates.py)
# --------------------------------------------------------------------------

RECONCILIATION_PK, RECONCILIATION_SK = "RECONCILE#counters", "LAST"


def _cell(key: CounterKey) -> str:
    return f"{key.scope}|{key.period}|{key.name}"  # scope and period never hold `|`


def _key(cell: str) -> CounterKey:
    scope, period, name = cell.split("|", 2)
    return CounterKey(scope, period, name)


@dataclass(frozen=True)
class Reconciliation:
    """What the last reconciliation found: when (its event's time, ISO UTC) and the drift it left unrepaired."""

    run_id: str
    at: str
    drift: dict[CounterKey, int]


def last_reconciliation() -> Reconciliation | None:
    item = _client().get_item(TableName=settings().analytics_table_name, ConsistentRead=True,
                              Key={"pk": {"S": RECONCILIATION_PK}, "sk": {"S": RECONCILIATION_SK}}).get("Item")
    if not item:
        return None
    drift = {_key(cell): int(value["N"]) for cell, value in item.get("drift", {}).get("M", {}).items()}
    return Reconciliation(item["run_id"]["S"], item["at"]["S"], drift)


def record_reconciliation(run: Reconciliation, previous: Reconciliation | None) -> bool:
    """Store `run` as the last reconciliation unless another run stored itself after `previous`
    (False: this run lost the race and must repair nothing)."""
    item: dict[str, Any] = {"pk": {"S": RECONCILIATION_PK}, "sk": {"S": RECONCILIATION_SK},
                            "run_id": {"S": run.run_id}, "at": {"S": run.at},
                            "drift": {"M": {_cell(k): {"N": str(n)} for k, n in run.drift.items()}}}
    if previous is None:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
    else:
        condition = {"ConditionExpression": "run_id = :previous",
                     "ExpressionAttributeValues": {":previous": {"S": previous.run_id}}}
    try:
        _client().put_item(TableName=settings().analytics_table_name, Item=item, **condition)
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
