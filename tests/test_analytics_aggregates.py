"""Real-time aggregates end to end: table stream -> consumer -> analytics table -> GET /analytics/summary.

The session's stack is shared with every other test, so these tests compare
what changed: counters after minus counters before, against what the items
of the customers and complaints the test made contribute now
(chalicelib/domain/aggregates.py).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import aggregates as agg
from chalicelib.domain.aggregates import CounterKey
from tests.conftest import Caller
from tests.test_api_complaints import _complaint, _move
from tests.test_reminders import _finished, _wib, day_run  # noqa: F401  (day_run: a fixture)
from tests.test_stream import Stream, deliver

BRANCHES = ["jakarta", "bandung", "surabaya"]
STAGES = ["lead", "prospect", "customer", "inactive", "churned"]
CHANNELS = ["phone", "visit", "chat", "sms"]
# A complaint moves open -> acknowledged -> in_progress -> resolved -> closed; resolved or closed reopens.
NEXT_STATUS = {"open": "acknowledged", "acknowledged": "in_progress", "in_progress": "resolved", "resolved": "closed",
               "closed": "in_progress"}


def counters(stack: dict[str, str]) -> Counter[CounterKey]:
    """Every AGG# counter of the analytics table (a test may scan; the app never does)."""
    client = boto3.client("dynamodb")
    found: Counter[CounterKey] = Counter()
    kwargs: dict[str, Any] = {"TableName": stack["ANALYTICS_TABLE_NAME"]}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if not pk.startswith("AGG#"):
                continue
            period = "NOW" if sk == "NOW" else sk.removeprefix("DAY#")
            for name, value in item.items():
                if "N" in value and name not in ("pk", "sk") and int(value["N"]):
                    found[CounterKey(pk.removeprefix("AGG#"), period, name)] = int(value["N"])
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def images(stack: dict[str, str], pks: set[str]) -> list[dict[str, Any]]:
    """The items under these partition keys now, as plain Python (numbers as Decimal), like a stream image."""
    client, plain = boto3.client("dynamodb"), TypeDeserializer()
    found = []
    for pk in sorted(pks):
        for item in client.query(TableName=stack["TABLE_NAME"], KeyConditionExpression="pk = :pk",
                                 ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)["Items"]:
            found.append({k: plain.deserialize(v) for k, v in item.items()})
    return found


def records(stack: dict[str, str], pks: set[str]) -> list[object]:
    """The same items as the stream consumer decodes them (chalicelib/persistence/changes.py): what aggregates count."""
    from chalicelib.persistence.changes import decode_image

    client = boto3.client("dynamodb")
    return [decode_image(item) for pk in sorted(pks)
            for item in client.query(TableName=stack["TABLE_NAME"], KeyConditionExpression="pk = :pk",
                                     ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)["Items"]]


RECOUNTED = ("cust|", "int|", "cx|open|", "cx|opened", "cx|resolved")  # the counters `recount` counts


def recount(items: list[dict[str, Any]]) -> dict[CounterKey, int]:
    """The counters anyone can count by hand from the items, counted here apart from chalicelib.domain.aggregates
    (an oracle that does not share its code): customers by stage now and new per day, staff interactions per day
    and channel, complaints open now by department x severity, opened and resolved per day."""
    zone = ZoneInfo("Asia/Jakarta")

    def day(stamp: str) -> str:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(zone).date().isoformat()

    found: Counter[CounterKey] = Counter()
    for item in items:
        counted: list[tuple[str, str]] = []
        if item["type"] == "customer":
            counted += [("NOW", f"cust|{item['lifecycle_stage']}"), (day(item["created_at"]), "cust|new")]
        elif item["type"] == "interaction" and item.get("delivery") is None:
            counted.append((day(item["occurred_at"]), f"int|{item['channel']}"))
        elif item["type"] == "complaint":
            counted.append((day(item["created_at"]), "cx|opened"))
            if item["status"] in ("open", "acknowledged", "in_progress"):
                counted.append(("NOW", f"cx|open|{item['department']}|{item['severity']}"))
            if item.get("resolved_at"):
                counted.append((day(item["resolved_at"]), "cx|resolved"))
        for period, name in counted:
            for scope in (item.get("branch_id") or "unknown", "ALL"):
                found[CounterKey(scope, period, name)] += 1
    return dict(found)


def changed(before: Counter[CounterKey], after: Counter[CounterKey]) -> dict[CounterKey, int]:
    keys = set(before) | set(after)
    return {k: after[k] - before[k] for k in keys if after[k] != before[k]}


def deliver_each_twice(stream: Stream, pks: set[str], rnd: random.Random) -> int:
    """Hand the stream's new records of `pks` to the consumer until none are left, each record twice.

    The second copy of each record goes at a random later place of the same
    batch (per-item order stays that of the stream), then the whole batch is
    delivered once more, as Lambda does after a failed batch.
    """
    delivered = 0
    while True:
        event = stream.event()
        if not event["Records"]:
            return delivered
        records = [r for r in event["Records"] if r["dynamodb"]["Keys"]["pk"]["S"] in pks]
        batch = list(records)
        for r in records:
            at = batch.index(r) + 1
            batch.insert(rnd.randint(at, len(batch)), r)
        for again in (batch, records):
            if again:
                assert deliver({"Records": again}) == {"batchItemFailures": []}
        delivered += len(records)


def escalate(table: str, complaint_id: str) -> None:
    """What a level of the escalation workflow writes (escalation.asl.json), without waiting for the SLA."""
    from chalicelib.domain.clock import iso, utcnow

    client = boto3.client("dynamodb")
    key = {"pk": {"S": f"X#{complaint_id}"}, "sk": {"S": "COMPLAINT"}}
    item = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if item is None or int(item["escalation_level"]["N"]) >= 3:
        return
    client.update_item(
        TableName=table, Key=key,
        UpdateExpression="SET escalation_level = escalation_level + :one, breached = :true, escalated_at = :now, "
                         "version = version + :one",
        ExpressionAttributeValues={":one": {"N": "1"}, ":true": {"BOOL": True}, ":now": {"S": iso(utcnow())}},
    )


class Example:
    """One randomised run of creates, moves, stage changes, deletes, interactions and complaints, as the admin."""

    def __init__(self, admin: Caller, table: str) -> None:
        self.admin = admin
        self.table = table
        self.customers: list[dict[str, Any]] = []  # alive ones
        self.complaints: list[dict[str, Any]] = []
        self.pks: set[str] = set()

    def run(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "create":
            c = self.admin.new_customer(branch_id=op[1], lifecycle_stage=op[2], name="Analytics Sample")
            self.customers.append(c)
            self.pks.add(f"C#{c['id']}")
            return
        if not self.customers:
            return
        c = self.customers[op[1] % len(self.customers)]
        if kind in ("move", "stage"):
            field = "branch_id" if kind == "move" else "lifecycle_stage"
            r = self.admin.patch(f"/customers/{c['id']}", {field: op[2]}, headers={"If-Match": f'"v{c["version"]}"'})
            assert r.status_code == 200, r.body
            self.customers[self.customers.index(c)] = r.json
        elif kind == "delete":
            assert self.admin.delete(f"/customers/{c['id']}").status_code == 204
            self.customers.remove(c)
            self.complaints = [x for x in self.complaints if x["customer_id"] != c["id"]]
        elif kind == "interaction":
            r = self.admin.post(f"/customers/{c['id']}/interactions",
                                {"channel": op[2], "direction": "inbound", "kind": "inquiry", "summary": "asked"})
            assert r.status_code == 201, r.body
        elif kind == "complaint":
            r = self.admin.post(f"/customers/{c['id']}/complaints", _complaint(severity=op[2]))
            assert r.status_code == 201, r.body
            self.complaints.append(r.json)
            self.pks.add(f"X#{r.json['id']}")
        elif kind == "escalate" and self.complaints:
            x = self.complaints[op[1] % len(self.complaints)]
            escalate(self.table, x["id"])
        elif kind == "advance" and self.complaints:
            x = self.complaints[op[1] % len(self.complaints)]
            current = self.admin.get(f"/complaints/{x['id']}").json  # the escalation may have bumped the version
            status = NEXT_STATUS[current["status"]]
            patch = {"status": status, **({"resolution_note": "Fixed"} if status == "resolved" else {})}
            r = _move(self.admin, current, **patch)
            assert r.status_code == 200, r.body
            self.complaints[self.complaints.index(x)] = r.json


OPERATIONS = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(BRANCHES), st.sampled_from(STAGES)),
    st.tuples(st.just("move"), st.integers(0, 9), st.sampled_from(BRANCHES)),
    st.tuples(st.just("stage"), st.integers(0, 9), st.sampled_from(STAGES)),
    st.tuples(st.just("delete"), st.integers(0, 9)),
    st.tuples(st.just("interaction"), st.integers(0, 9), st.sampled_from(CHANNELS)),
    st.tuples(st.just("complaint"), st.integers(0, 9), st.sampled_from(["low", "medium"])),
    st.tuples(st.just("advance"), st.integers(0, 9)),
    st.tuples(st.just("escalate"), st.integers(0, 9)),
    st.tuples(st.just("deliver")),
)


@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(OPERATIONS, min_size=2, max_size=9), seed=st.integers(0, 2**32 - 1))
def test_counters_move_by_exactly_what_the_items_now_in_the_table_contribute_despite_duplicate_deliveries(
    stack: dict[str, str], as_user: Any, stream: Stream, ops: list[tuple[Any, ...]], seed: int
) -> None:
    rnd = random.Random(seed)  # where the duplicates go: how many records there are is not Hypothesis' to draw
    stream.skip()
    before = counters(stack)
    example = Example(as_user("admin"), stack["TABLE_NAME"])
    example.run(("create", "jakarta", "lead"))
    for op in ops:
        if op[0] == "deliver":
            deliver_each_twice(stream, example.pks, rnd)
        else:
            example.run(op)
    deliver_each_twice(stream, example.pks, rnd)
    items = images(stack, example.pks)
    moved = changed(before, counters(stack))
    assert moved == agg.total(records(stack, example.pks))  # every counter: the sum of what each item contributes...
    assert {k: n for k, n in moved.items() if k.name.startswith(RECOUNTED[:3]) or k.name in RECOUNTED[3:]} == \
        recount(items)  # ...and those anyone can count by hand, counted apart


def test_reminder_decisions_and_sends_count_in_the_customers_branch(
    stack: dict[str, str], as_user: Any, stream: Stream, day_run: Any  # noqa: F811  (the fixture imported above)
) -> None:
    """A greeting skipped for want of consent and a due-date reminder sent by the state machine, in bandung."""
    before = counters(stack)
    agent = as_user("agent.bandung")
    day = date(2026, 10, 7)
    customer = agent.new_customer(birthday="1991-10-07")  # no marketing consent: the greeting is skipped
    r = agent.post(f"/customers/{customer['id']}/due-items",
                   {"kind": "service", "title": "Servis berkala", "due_date": "2026-10-08"})  # T-1
    assert r.status_code == 201, r.body
    pks = {f"C#{customer['id']}"}
    deliver_each_twice(stream, pks, random.Random(1))
    report = day_run(day, _wib(day, 8).astimezone(UTC))
    deliver_each_twice(stream, pks, random.Random(2))  # the decisions: skipped, and pending (or already further)
    for name in report.executions:
        assert _finished(name)["status"] == "SUCCEEDED"
    deliver_each_twice(stream, pks, random.Random(3))  # pending -> sending -> sent
    now = images(stack, pks)
    decided = sorted((i["delivery"], i.get("reason"), i.get("branch_id")) for i in now if i["type"] == "interaction")
    assert decided == [("sent", None, "bandung"), ("skipped", "no_sms_marketing_consent", "bandung")]
    moved = changed(before, counters(stack))
    assert moved == agg.total(records(stack, pks))
    (decided_on,) = {agg.local_day(i["occurred_at"], ZoneInfo("Asia/Jakarta")) for i in now if i.get("delivery")}
    for scope in ("bandung", "ALL"):
        assert moved[CounterKey(scope, decided_on, "rem|sent")] == 1
        assert moved[CounterKey(scope, decided_on, "rem|skipped|no_sms_marketing_consent")] == 1
        assert CounterKey(scope, decided_on, "rem|pending") not in moved


def test_a_cancelled_transaction_leaves_no_record_behind_and_the_stream_readable(
    stack: dict[str, str], as_user: Any, stream: Stream
) -> None:
    """The local stack (infra/moto_speedups.py): moto alone would hand readers the writes of a cancelled
    transaction and then nothing more (its rollback swaps in a copy of the table and of its stream)."""
    admin = as_user("admin")
    first = admin.new_customer(branch_id="jakarta")
    assert len(stream.event()["Records"]) == 2  # the profile and its phone guard
    clash = admin.post("/customers", {"name": "Same Phone", "phone": first["phone"], "branch_id": "bandung"})
    assert clash.status_code == 409  # the profile was put before the guard failed: undone
    second = admin.new_customer(branch_id="surabaya")
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in stream.event()["Records"]]
    assert keys == [f"C#{second['id']}", f"PHONE#{second['phone']}"]
    assert admin.get(f"/customers/{first['id']}").json["branch_id"] == "jakarta"


def _conflicting(monkeypatch: pytest.MonkeyPatch, conflicts: int) -> list[int]:
    """The test thread's next `conflicts` TransactWriteItems are cancelled for TransactionConflict (what DynamoDB answers when
    another transaction holds a counter item; moto never does), the rest reach moto. Returns the calls' count."""
    from botocore.exceptions import ClientError

    from chalicelib import config
    from chalicelib.persistence import aggregates

    monkeypatch.setattr(aggregates, "AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS", 0.001)
    assert config.AGGREGATES_CONFLICT_RETRIES >= 2
    client = aggregates._client()
    real = client.transact_write_items
    calls = [0]
    mine = threading.get_ident()  # the session's stream consumer shares the client: its calls go through

    def transact(**kwargs: Any) -> Any:
        if threading.get_ident() != mine:
            return real(**kwargs)
        calls[0] += 1
        if calls[0] <= conflicts:
            reasons = [{"Code": "None"}, *({"Code": "TransactionConflict"} for _ in kwargs["TransactItems"][1:])]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", transact)
    return calls


def _counter(stack: dict[str, str], scope: str, name: str) -> int:
    item = boto3.client("dynamodb").get_item(TableName=stack["ANALYTICS_TABLE_NAME"],
                                             Key={"pk": {"S": f"AGG#{scope}"}, "sk": {"S": "NOW"}}).get("Item") or {}
    return int(item.get(name, {}).get("N", 0))


def test_a_record_whose_transaction_conflicts_is_retried_in_place_and_counted_once(
        stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.persistence import aggregates

    scope, event_id = f"conflict-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    calls = _conflicting(monkeypatch, conflicts=2)
    assert aggregates.apply_once(event_id, {CounterKey(scope, "NOW", "cust|lead"): 1}) == "applied"
    assert calls[0] == 3 and _counter(stack, scope, "cust|lead") == 1
    assert aggregates.apply_once(event_id, {CounterKey(scope, "NOW", "cust|lead"): 1}) == "duplicate"
    assert _counter(stack, scope, "cust|lead") == 1


def test_a_conflict_that_outlasts_the_retries_fails_the_record_and_writes_nothing(
        stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.config import AGGREGATES_CONFLICT_RETRIES
    from chalicelib.domain.errors import ServiceUnavailable
    from chalicelib.persistence import aggregates

    scope, event_id = f"conflict-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    calls = _conflicting(monkeypatch, conflicts=AGGREGATES_CONFLICT_RETRIES + 1)
    with pytest.raises(ServiceUnavailable):
        aggregates.apply_once(event_id, {CounterKey(scope, "NOW", "cust|lead"): 1})
    assert calls[0] == AGGREGATES_CONFLICT_RETRIES + 1 and _counter(stack, scope, "cust|lead") == 0
    # the event source mapping delivers the record again: counted then, once
    assert aggregates.apply_once(event_id, {CounterKey(scope, "NOW", "cust|lead"): 1}) == "applied"
    assert _counter(stack, scope, "cust|lead") == 1


# --- over HTTP --------------------------------------------------------------------------------------------------


def _summary(caller: Caller, query: str = "") -> dict[str, Any]:
    r = caller.get(f"/analytics/summary{query}")
    assert r.status_code == 200, r.body
    return dict(r.json)


def _numbers(summary: dict[str, Any]) -> dict[str, int]:
    """The answer's counts as flat paths (window excluded), to compare before and after."""
    flat: dict[str, int] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(value, list):
            for v in value:
                if isinstance(v, dict) and "date" in v:
                    walk(f"{prefix}[{v['date']}]", {k: x for k, x in v.items() if k != "date"})
                elif isinstance(v, dict) and "department" in v:
                    walk(f"{prefix}[{v['department']}|{v['severity']}]", v["n"])
                elif isinstance(v, dict) and "le_hours" in v:
                    walk(f"{prefix}[{v['le_hours']}]", v["n"])
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[prefix] = value  # type: ignore[assignment]

    walk("", {k: v for k, v in summary.items() if k not in ("window", "branch")})
    return flat


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    b, a = _numbers(before), _numbers(after)
    keys = [k for k in set(a) | set(b) if "mean" not in k and ".p50" not in k and ".p90" not in k]
    return {k: a.get(k, 0) - b.get(k, 0) for k in sorted(keys) if a.get(k, 0) != b.get(k, 0)}


def _drain(pump: Any) -> None:
    for _ in range(3):  # what a delivery writes (a customer message) is delivered by the next round
        pump.drain(timeout_s=30)


def test_the_summary_counts_what_happened_for_analysts_and_the_branch_manager_only(
    as_user: Any, stream_pump: Any
) -> None:
    agent, analyst, manager = as_user("agent.bandung"), as_user("analyst"), as_user("manager.bandung")
    _drain(stream_pump)
    before_all, before_branch = _summary(analyst), _summary(manager)
    before_jakarta = _summary(as_user("manager.jakarta"))
    email = f"{uuid.uuid4().hex[:8]}@contoh.co.id"
    people = [agent.new_customer(name="Ratna Kusumawati", lifecycle_stage="prospect", email=email),
              agent.new_customer(name="Yusuf Hidayat")]
    for channel in ("visit", "phone"):
        r = agent.post(f"/customers/{people[0]['id']}/interactions",
                       {"channel": channel, "direction": "inbound", "kind": "inquiry", "summary": "price list"})
        assert r.status_code == 201
    c = agent.post(f"/customers/{people[1]['id']}/complaints", _complaint(category="sales", severity="low")).json
    for step in ({"status": "acknowledged"}, {"status": "in_progress"},
                 {"status": "resolved", "resolution_note": "Fixed"}):
        c = _move(agent, c, **step).json
    _drain(stream_pump)

    after_all = _summary(analyst)
    after_branch = _summary(manager)
    today = after_all["window"]["to"]
    expected = {
        ".customers_by_stage.prospect": 1, ".customers_by_stage.lead": 1, ".customers_total": 2,
        ".new_customers.total": 2, f".new_customers.per_day[{today}].n": 2,
        ".interactions.total": 2, ".interactions.by_channel.visit": 1, ".interactions.by_channel.phone": 1,
        f".interactions.per_day[{today}].n": 2, f".interactions.per_day[{today}].by_channel.visit": 1,
        f".interactions.per_day[{today}].by_channel.phone": 1,
        ".complaints.opened": 1, ".complaints.resolved": 1, f".complaints.opened_per_day[{today}].n": 1,
        f".complaints.resolved_per_day[{today}].n": 1, ".complaints.resolution_hours.count": 1,
        ".complaints.resolution_hours.histogram[1.0]": 1,
        # the complaint was received and resolved: two SMS updates to the customer; then its satisfaction survey
        # (tests/test_surveys.py), counted with the messages that are not complaint updates
        ".notifications.sent": 3, ".notifications.complaint_updates.sent": 2, f".notifications.per_day[{today}].sent": 3,
        f".notifications.complaint_updates.per_day[{today}].sent": 2,
        ".notifications.reminders.sent": 1, f".notifications.reminders.per_day[{today}].sent": 1,
    }
    assert _delta(before_all, after_all) == expected
    assert after_branch["branch"] == "bandung" and after_all["branch"] is None
    assert _delta(before_branch, after_branch) == expected
    assert _summary(analyst, "?branch=bandung") == after_branch
    assert _summary(as_user("manager.jakarta")) == {**before_jakarta, "window": _summary(analyst)["window"]}
    assert after_all["complaints"]["resolution_hours"]["p50"] is not None

    answers = [after_all, after_branch]
    for caller, query in ((manager, "?branch=jakarta"), (agent, ""), (as_user("marketing"), "")):
        r = caller.get(f"/analytics/summary{query}")
        assert r.status_code == 403 and r.headers["Content-Type"] == "application/problem+json"
        answers.append(r.json)
    text = repr(answers)
    for person in people:
        for secret in (person["name"], person["phone"], person["phone"][3:], person["id"]):
            assert secret not in text
    assert email not in text


@pytest.mark.parametrize("query", [
    "?from=2026-13-01", "?from=01-03-2026", "?from=1767225600", "?to=2026-02-30", "?from=2026-03-02&to=2026-03-01",
    "?from=2025-01-01&to=2026-01-02", "?branch=atlantis", "?branch=", "?since=2026-01-01", "?from=1999-12-31",
])
def test_a_bad_window_or_branch_is_a_400_problem(as_user: Any, query: str) -> None:
    r = as_user("analyst").get(f"/analytics/summary{query}")
    assert r.status_code == 400, (query, r.body)
    assert r.headers["Content-Type"] == "application/problem+json"
    assert r.json["type"] == "/problems/validation-error" and r.json["errors"]


def test_a_from_after_today_without_a_to_is_blamed_on_from(as_user: Any) -> None:
    r = as_user("analyst").get("/analytics/summary?from=2090-01-01")
    assert r.status_code == 400 and [e["field"] for e in r.json["errors"]] == ["query.from"], r.body


@pytest.mark.parametrize("query", [
    "/analytics/anomalies?from=0", "/analytics/anomalies?from=86400", "/analytics/anomalies?to=2026-11-01T00:00:00Z",
    "/analytics/anomalies?from=0001-01-01", "/analytics/churn-risk?limit=5_0", "/analytics/churn-risk?limit=%2B5",
    "/analytics/churn-risk?limit=1.0", "/analytics/exports?limit=%205", "/customers?limit=1e1",
])
def test_query_dates_and_numbers_are_written_plainly_or_refused(as_user: Any, query: str) -> None:
    r = as_user("admin").get(query)
    assert r.status_code == 400, (query, r.body)
    assert r.headers["Content-Type"] == "application/problem+json"


def test_the_window_defaults_to_the_last_30_days_and_may_be_a_whole_leap_year(as_user: Any) -> None:
    analyst = as_user("analyst")
    window = _summary(analyst)["window"]
    assert window["days"] == 30 and window["timezone"] == "Asia/Jakarta"
    year = _summary(analyst, "?from=2024-01-01&to=2024-12-31")
    assert year["window"] == {"from": "2024-01-01", "to": "2024-12-31", "days": 366, "timezone": "Asia/Jakarta"}
    assert len(year["new_customers"]["per_day"]) == 366
    one_day = _summary(analyst, "?from=2026-03-01&to=2026-03-01")
    assert [d["date"] for d in one_day["interactions"]["per_day"]] == ["2026-03-01"]


def test_the_summary_is_documented_in_openapi(api: Any) -> None:
    import json

    document = json.loads(api.get("/openapi.json").body)
    operation = document["paths"]["/analytics/summary"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"branch", "from", "to"}
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    assert "AnalyticsSummary" in document["components"]["schemas"]
