"""The complaint escalation workflow: its input (pure), and the real ASL run in moto's engine.

The workflow tests put complaint items straight into the table (this is about
the state machine, not the API), start executions through
chalicelib.workflows.escalation.start with a large RELASI_TIME_SCALE, wait a
bounded time for the execution to end, and read what SNS delivered to an SQS
queue subscribed to the department's ops topic and to the failure topic.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from chalicelib import aws
from chalicelib.domain.complaints import Complaint
from chalicelib.workflows import escalation

ASL = json.loads(escalation.ASL_FILE.read_text())
EXECUTION_TIMEOUT_S = 20.0

# What a complaint item may hold about its customer; none of it may reach an alert or the history.
PII = ("Budi Santoso", "+6281234567890", "Motor saya rusak lagi", "budi@contoh.co.id")
_ids = itertools.count()


def complaint_id() -> str:
    """A ULID-shaped id no other test uses."""
    return f"01JESC{time.time_ns() % 10**12:012d}{next(_ids):08d}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def complaint(cid: str, now: datetime, *, status: str = "open", department: str = "service",
              ack: timedelta = timedelta(hours=1), resolve: timedelta = timedelta(hours=8)) -> dict[str, Any]:
    """A critical complaint created `now` (SLA: acknowledge 1 h, resolve 8 h), as the item's attributes."""
    return {
        "id": cid,
        "customer_id": "01JCUSTOMER000000000000000",
        "branch_id": "jakarta",
        "category": "service",
        "department": department,
        "severity": "critical",
        "subject": f"{PII[2]} - {PII[0]}",
        "description": f"{PII[0]}, {PII[1]}, {PII[3]}: {PII[2]}.",
        "status": status,
        "escalation_level": 0,
        "breached": False,
        "version": 1,
        "created_at": _iso(now),
        "updated_at": _iso(now),
        "ack_due_at": _iso(now + ack),
        "resolve_due_at": _iso(now + resolve),
    }


# --------------------------------------------------------------------------
# escalation_input: pure
# --------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC)


def as_complaint(item: dict[str, Any]) -> Complaint:
    """The Complaint a complaint item holds (what the stream consumer decodes and starts the workflow with)."""
    names = {f.name for f in fields(Complaint)}
    return Complaint(**{"created_by": "staff", **{k: v for k, v in item.items() if k in names}},
                     escalated=bool(item.get("breached")))


def start(item: dict[str, Any], now: datetime) -> str:
    return escalation.start(as_complaint(item), now)


def _input(item: dict[str, Any], now: datetime, time_scale: float = 1) -> dict[str, Any]:
    return escalation.escalation_input(
        as_complaint(item), now=now, time_scale=time_scale, table="relasi-test", topic_arn="arn:ops-service",
        failure_topic_arn="arn:ops"
    )


def test_input_schedules_the_three_levels_at_the_real_deadlines() -> None:
    payload = _input(complaint("01JESC0000000000000000000A", T0), T0)
    assert {k: v for k, v in payload.items() if k != "levels"} == {
        "complaint_id": "01JESC0000000000000000000A",
        "table": "relasi-test",
        "pk": "X#01JESC0000000000000000000A",
        "sk": "COMPLAINT",
        "topic_arn": "arn:ops-service",
        "failure_topic_arn": "arn:ops",
        "department": "service",
        "severity": "critical",
    }
    assert payload["levels"] == [
        {"level": 1, "escalate_at": "2026-11-23T04:00:00.000Z", "wait_until": "2026-11-23T04:00:00.000Z",
         "deadline": "2026-11-23T04:00:00.000Z", "missed_deadline": "acknowledge", "overdue_minutes": 0,
         "only_if_status_in": ["open"]},
        {"level": 2, "escalate_at": "2026-11-23T11:00:00.000Z", "wait_until": "2026-11-23T11:00:00.000Z",
         "deadline": "2026-11-23T11:00:00.000Z", "missed_deadline": "resolve", "overdue_minutes": 0,
         "only_if_status_in": ["open", "acknowledged", "in_progress"]},
        # one more resolve window (8 h) after the resolve deadline, overdue by that window
        {"level": 3, "escalate_at": "2026-11-23T19:00:00.000Z", "wait_until": "2026-11-23T19:00:00.000Z",
         "deadline": "2026-11-23T19:00:00.000Z", "missed_deadline": "resolve", "overdue_minutes": 480,
         "only_if_status_in": ["open", "acknowledged", "in_progress"]},
    ]
    assert not any(pii in json.dumps(payload) for pii in PII)  # the input holds no customer data


def test_time_scale_shortens_the_waits_not_the_deadlines() -> None:
    now = T0 + timedelta(minutes=10)
    payload = _input(complaint("01JESC0000000000000000000B", T0), now, time_scale=60)
    waits = [datetime.fromisoformat(level["wait_until"]) - now for level in payload["levels"]]
    # 50 min, 7 h 50 min and 15 h 50 min ahead, 60 times shorter
    assert waits == [timedelta(seconds=50), timedelta(seconds=470), timedelta(seconds=950)]
    assert [level["escalate_at"] for level in payload["levels"]] == [
        "2026-11-23T04:00:00.000Z", "2026-11-23T11:00:00.000Z", "2026-11-23T19:00:00.000Z"
    ]
    assert [level["overdue_minutes"] for level in payload["levels"]] == [0, 0, 480]


def test_a_late_start_never_waits_before_now_and_counts_the_real_lateness() -> None:
    now = T0 + timedelta(hours=9, minutes=30)  # 8 h 30 min past the acknowledge deadline, 1 h 30 min past resolve
    payload = _input(complaint("01JESC0000000000000000000C", T0), now, time_scale=60)
    levels = payload["levels"]
    assert [level["wait_until"] for level in levels[:2]] == [_iso(now), _iso(now)]
    assert levels[2]["wait_until"] == _iso(now + (T0 + timedelta(hours=16) - now) / 60)
    assert [level["overdue_minutes"] for level in levels] == [510, 90, 480]


def test_input_refuses_a_naive_clock_and_a_non_positive_scale() -> None:
    item = complaint("01JESC0000000000000000000D", T0)
    with pytest.raises(ValueError):
        _input(item, T0.replace(tzinfo=None))
    with pytest.raises(ValueError):
        _input(item, T0, time_scale=0)


def test_the_asl_guards_each_level_with_the_starters_statuses() -> None:
    for level, statuses in escalation.LEVEL_STATUSES.items():
        update = ASL["States"][f"L{level} Escalate"]["Parameters"]
        condition = update["ConditionExpression"]
        named = re.fullmatch(r"escalation_level < :level AND #status IN \((.*)\)", condition)
        assert named, condition
        placeholders = [p.strip() for p in named.group(1).split(",")]
        assert [update["ExpressionAttributeValues"][p] for p in placeholders] == [{"S": s} for s in statuses]
        assert ASL["States"][f"L{level} Select level"]["InputPath"] == f"$.levels[{level - 1}]"


def test_the_asl_is_a_valid_closed_graph() -> None:
    """Every transition names a state, every state is reachable, and cfn-lint's ASL schema (E3601) accepts it."""
    states = ASL["States"]
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        targets = {state[k] for k in ("Next", "Default") if k in state}
        targets |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
        assert targets <= set(states), (name, targets - set(states))
        assert ("End" in state or state["Type"] in ("Succeed", "Fail")) != bool(state.get("Next") or state.get("Choices"))
        edges[name] = targets
    reached, frontier = set(), [ASL["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in reached:
            reached.add(name)
            frontier += edges[name]
    assert reached == set(states)

    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    template = {"Resources": {"Escalation": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": "arn:aws:iam::123456789012:role/escalation", "Definition": ASL}}}}
    assert [m.message for m in lint(json.dumps(template), config=ManualArgs(regions=["ap-southeast-3"]))] == []


# --------------------------------------------------------------------------
# The real ASL in moto's engine
# --------------------------------------------------------------------------


@pytest.fixture
def workflow(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch, stream_pump: Any) -> Iterator[Any]:
    """The state machine on its own, its time scaled: the session's stream consumer is paused meanwhile (the
    complaint items these tests put are the workflow's input, not complaints a customer made)."""
    from chalicelib.config import settings

    def time_scale(scale: float) -> None:
        monkeypatch.setenv("RELASI_TIME_SCALE", str(scale))
        settings.cache_clear()

    with stream_pump.paused():
        aws.forget_clients()
        time_scale(28800)  # 8 h -> 1 s: L1 after 1/8 s, L2 after 1 s, L3 after 2 s
        try:
            yield time_scale
        finally:
            monkeypatch.undo()
            settings.cache_clear()
            # the items go (unseen by the consumer, as they came): they are no complaints a customer made, and
            # lack what a stored complaint has (its index keys), so an export's complaints would tell them apart
            dynamodb = boto3.client("dynamodb")
            while _PUT:
                dynamodb.delete_item(TableName=stack["TABLE_NAME"],
                                     Key={"pk": {"S": f"X#{_PUT.pop()}"}, "sk": {"S": "COMPLAINT"}})


_PUT: list[str] = []  # the ids of the complaint items put by the test running now (the workflow fixture's)


def _put(stack: dict[str, str], item: dict[str, Any]) -> None:
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    raw = {k: serialize(v) for k, v in item.items()}
    raw.update(pk={"S": f"X#{item['id']}"}, sk={"S": "COMPLAINT"}, type={"S": "complaint"})
    _PUT.append(str(item["id"]))
    boto3.client("dynamodb").put_item(TableName=stack["TABLE_NAME"], Item=raw)


def _get(stack: dict[str, str], cid: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    raw = boto3.client("dynamodb").get_item(
        TableName=stack["TABLE_NAME"], Key={"pk": {"S": f"X#{cid}"}, "sk": {"S": "COMPLAINT"}}, ConsistentRead=True
    )["Item"]
    return {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}


class Inbox:
    """An SQS queue subscribed to SNS topics: what ops received, per complaint."""

    def __init__(self, *topic_arns: str) -> None:
        self.sqs = boto3.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"escalation-test-{time.time_ns()}")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for topic_arn in topic_arns:
            boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        self.received: list[dict[str, Any]] = []

    def alerts(self, cid: str, topic_arn: str) -> list[dict[str, Any]]:
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            self.received += [json.loads(m["Body"]) for m in batch]
        return [
            m for m in self.received
            if m["TopicArn"] == topic_arn and m.get("MessageAttributes", {}).get("complaint_id", {}).get("Value") == cid
        ]


def _finished(arn: str) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while True:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return dict(execution)
        assert time.monotonic() < deadline, f"execution still running after {EXECUTION_TIMEOUT_S} s"
        time.sleep(0.1)


def _history(arn: str) -> list[dict[str, Any]]:
    return list(boto3.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"])


def _department_topic(stack: dict[str, str], department: str = "service") -> str:
    return stack["DEPARTMENT_TOPIC_ARN_PREFIX"] + department


def test_local_state_machine_runs_the_asl_file(stack: dict[str, str]) -> None:
    described = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=stack["ESCALATION_STATE_MACHINE_ARN"])
    assert json.loads(described["definition"]) == ASL


def test_open_complaint_escalates_l1_l2_l3_with_one_alert_each(stack: dict[str, str], workflow: Any) -> None:
    now = datetime.now(UTC)
    cid = complaint_id()
    topic = _department_topic(stack)
    inbox = Inbox(topic, stack["OPS_TOPIC_ARN"])
    _put(stack, complaint(cid, now))

    arn = start(_get(stack, cid), now)
    execution = _finished(arn)

    assert execution["status"] == "SUCCEEDED", execution
    alerts = inbox.alerts(cid, topic)
    assert [a["MessageAttributes"]["level"]["Value"] for a in alerts] == ["1", "2", "3"]
    assert [
        {name: attr["Value"] for name, attr in a["MessageAttributes"].items()} for a in alerts
    ] == [
        {"complaint_id": cid, "branch_id": "jakarta", "department": "service", "severity": "critical",
         "level": level, "overdue_minutes": overdue}
        for level, overdue in (("1", "0"), ("2", "0"), ("3", "480"))
    ]
    assert alerts[2]["Message"] == (
        f"Complaint {cid} escalated to level 3: 480 minutes past its resolve deadline. "
        "Branch: jakarta. Department: service. Severity: critical."
    )
    assert alerts[0]["Subject"] == "Relasi complaint escalated to L1: critical service"
    assert inbox.alerts(cid, stack["OPS_TOPIC_ARN"]) == []  # no failure alert
    # No customer data in the alerts (text, subject, attributes) or the execution history.
    seen = json.dumps(alerts) + json.dumps(_history(arn), default=str)
    for pii in (*PII, "01JCUSTOMER"):
        assert pii not in seen

    item = _get(stack, cid)
    assert (item["escalation_level"], item["breached"], item["version"], item["status"]) == (3, True, 4, "open")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["escalated_at"])
    l3_wait = escalation.escalation_input(
        as_complaint(item), now=now, time_scale=28800, table="", topic_arn="", failure_topic_arn=""
    )["levels"][2]["wait_until"]
    assert item["escalated_at"] >= l3_wait  # a wait never ends before its timestamp

    # A second execution for the same complaint (say, started by hand) alerts nobody again.
    again = boto3.client("stepfunctions").start_execution(
        stateMachineArn=stack["ESCALATION_STATE_MACHINE_ARN"],
        name=f"{cid}-again",
        input=json.dumps(escalation.escalation_input(
            as_complaint(item), now=datetime.now(UTC), time_scale=1e9, table=stack["TABLE_NAME"], topic_arn=topic,
            failure_topic_arn=stack["OPS_TOPIC_ARN"],
        )),
    )["executionArn"]
    assert _finished(again)["status"] == "SUCCEEDED"
    assert len(inbox.alerts(cid, topic)) == 3
    assert _get(stack, cid)["version"] == 4


def test_alerts_name_the_branch_the_complaint_is_in_when_they_go_out(stack: dict[str, str], workflow: Any) -> None:
    """A customer who moved takes their complaints along (chalicelib/persistence/customers.py update);
    the workflow reads the branch at each level, so the new branch is alerted, not the one at the start."""
    workflow(3600)  # L1 after a second: time to move the complaint first
    now = datetime.now(UTC)
    cid = complaint_id()
    topic = _department_topic(stack)
    inbox = Inbox(topic)
    _put(stack, complaint(cid, now))
    arn = start(_get(stack, cid), now)
    boto3.client("dynamodb").update_item(
        TableName=stack["TABLE_NAME"], Key={"pk": {"S": f"X#{cid}"}, "sk": {"S": "COMPLAINT"}},
        UpdateExpression="SET branch_id = :b", ExpressionAttributeValues={":b": {"S": "bandung"}})

    assert _finished(arn)["status"] == "SUCCEEDED"
    alerts = inbox.alerts(cid, topic)
    assert [a["MessageAttributes"]["branch_id"]["Value"] for a in alerts] == ["bandung"] * 3
    assert all("Branch: bandung." in a["Message"] for a in alerts)


def test_acknowledged_complaint_escalates_from_l2(stack: dict[str, str], workflow: Any) -> None:
    now = datetime.now(UTC)
    cid = complaint_id()
    topic = _department_topic(stack, "quality_control")
    inbox = Inbox(topic)
    _put(stack, complaint(cid, now, status="acknowledged", department="quality_control"))

    execution = _finished(start(_get(stack, cid), now))

    assert execution["status"] == "SUCCEEDED", execution
    assert [a["MessageAttributes"]["level"]["Value"] for a in inbox.alerts(cid, topic)] == ["2", "3"]
    item = _get(stack, cid)
    assert (item["escalation_level"], item["breached"], item["version"]) == (3, True, 3)


def test_complaint_resolved_before_its_deadline_escalates_nothing(stack: dict[str, str], workflow: Any) -> None:
    workflow(3600)  # L1 after 1 s, L2 after 8 s: resolved well before
    now = datetime.now(UTC)
    cid = complaint_id()
    topic = _department_topic(stack)
    inbox = Inbox(topic, stack["OPS_TOPIC_ARN"])
    item = complaint(cid, now, resolve=timedelta(hours=2))  # L2 after 2 s
    _put(stack, item)

    arn = start(item, now)
    _put(stack, {**item, "status": "resolved", "version": 2})

    execution = _finished(arn)
    assert execution["status"] == "SUCCEEDED", execution
    assert inbox.alerts(cid, topic) == [] and inbox.alerts(cid, stack["OPS_TOPIC_ARN"]) == []
    item = _get(stack, cid)
    assert (item["escalation_level"], item["breached"], item["version"]) == (0, False, 2)
    entered = [e["stateEnteredEventDetails"]["name"] for e in _history(arn) if "stateEnteredEventDetails" in e]
    assert entered[-1] == "No longer needed"
    assert not any(name.endswith("Escalate") for name in entered)


def test_starting_twice_gives_one_execution_and_stop_ends_it(stack: dict[str, str], workflow: Any) -> None:
    workflow(1)  # real time: the execution waits an hour for L1
    now = datetime.now(UTC)
    cid = complaint_id()
    item = complaint(cid, now)
    _put(stack, item)

    first = start(item, now)
    same_input = start(item, now)  # a redelivered record: same name and input
    later = start(item, now + timedelta(seconds=5))  # a retried consumer: same name, other input
    assert first == same_input == later
    pages = boto3.client("stepfunctions").get_paginator("list_executions").paginate(
        stateMachineArn=stack["ESCALATION_STATE_MACHINE_ARN"])  # every page: the session's stack holds hundreds
    assert [e["executionArn"] for page in pages for e in page["executions"] if e["name"] == cid] == [first]

    assert escalation.stop(as_complaint(item)) is True  # resolved: the workflow ends without an alert
    assert _finished(first)["status"] == "ABORTED"
    assert start(item, now) == first  # a closed execution's name is not reused either
    assert escalation.stop(as_complaint(complaint(complaint_id(), now))) is False  # never started


def test_a_stop_that_overtakes_the_execution_worker_still_stops_it(
    stack: dict[str, str], workflow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto runs each execution on a thread; on a loaded machine StopExecution can arrive before the
    thread has built its environment (moto answered 500) or started its program (moto ignored the stop).
    The local stack's engine (infra/moto_sfn.py) waits for the worker instead, as AWS never races."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    workflow(1)
    slow_start = ExecutionWorker._execution_logic

    def late_worker(self: Any) -> None:
        time.sleep(0.5)  # the thread is scheduled late, as on a busy CI machine
        slow_start(self)

    monkeypatch.setattr(ExecutionWorker, "_execution_logic", late_worker)
    now = datetime.now(UTC)
    cid = complaint_id()
    item = complaint(cid, now)
    _put(stack, item)

    arn = start(item, now)
    assert escalation.stop(as_complaint(item)) is True
    assert _finished(arn)["status"] == "ABORTED"


def test_a_failing_step_alerts_the_failure_topic_and_fails(stack: dict[str, str], workflow: Any) -> None:
    now = datetime.now(UTC)
    cid = complaint_id()
    ops = stack["OPS_TOPIC_ARN"]
    inbox = Inbox(ops)
    # No ops topic exists for this department: publishing the L1 alert fails.
    item = complaint(cid, now - timedelta(hours=2), department="legal")
    _put(stack, item)

    execution = _finished(start(item, now))

    assert execution["status"] == "FAILED", execution
    assert execution["error"] == "EscalationFailed"
    (alert,) = inbox.alerts(cid, ops)
    error = alert["MessageAttributes"]["error"]["Value"]
    assert error.startswith("SNS."), error
    assert alert["Message"] == (
        f"The escalation workflow of complaint {cid} failed: {error}. Check the complaint by hand."
    )
    assert not any(pii in json.dumps(alert) for pii in PII)


def test_waits_follow_the_utc_clock_whatever_the_local_time_zone(stack: dict[str, str], workflow: Any) -> None:
    """moto compares Wait timestamps with local time; infra/moto_sfn.py makes it UTC (Asia/Jakarta is UTC+7)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Jakarta"
    time.tzset()
    try:
        workflow(1800)  # 1 h -> 2 s
        now = datetime.now(UTC)
        cid = complaint_id()
        item = complaint(cid, now, status="closed", resolve=timedelta(hours=1))  # L1 and L2 after 2 s
        _put(stack, item)
        started = time.monotonic()
        execution = _finished(start(item, now))
        elapsed = time.monotonic() - started
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    assert execution["status"] == "SUCCEEDED", execution
    assert 1.5 <= elapsed < 10, elapsed


# --------------------------------------------------------------------------
# reopened complaints: escalation starts over from the reopen
# --------------------------------------------------------------------------


def test_a_reopen_gives_a_fresh_resolve_window_and_an_input_that_runs_from_it() -> None:
    from chalicelib.domain.complaints import transition

    resolved = replace(as_complaint(complaint("01JESC0000000000000000000R", T0)), status="resolved",
                       resolution_note="fixed", resolved_at=_iso(T0 + timedelta(hours=2)), escalation_level=2)
    reopened_at = T0 + timedelta(days=1)
    again = transition(resolved, "in_progress", by="agent", now=reopened_at)
    assert (again.status, again.reopens, again.reopened_at, again.escalation_level) == (
        "in_progress", 1, _iso(reopened_at), 0)
    assert again.resolve_due_at == _iso(reopened_at + timedelta(hours=8))  # critical: 8 h to resolve, from now
    assert again.history[-1].from_value == "resolved" and again.history[-1].to_value == "in_progress"
    payload = escalation.escalation_input(again, now=reopened_at, time_scale=1, table="t", topic_arn="a",
                                          failure_topic_arn="f")
    levels = {level["level"]: level for level in payload["levels"]}
    assert levels[2]["escalate_at"] == _iso(reopened_at + timedelta(hours=8))
    assert levels[3]["escalate_at"] == _iso(reopened_at + timedelta(hours=16))  # one window after, from the reopen
    assert levels[1]["only_if_status_in"] == ["open"]  # in progress: no acknowledge level


def test_each_reopen_runs_under_its_own_execution_name(stack: dict[str, str], workflow: Any) -> None:
    workflow(1)  # real time: nothing fires during the test
    now = datetime.now(UTC)
    cid = complaint_id()
    item = complaint(cid, now)
    _put(stack, item)
    first = start(item, now)
    assert escalation.stop(as_complaint(item)) is True  # resolved
    reopened = {**item, "status": "in_progress", "reopens": 1, "reopened_at": _iso(now), "version": 3}
    second = start(reopened, now)
    assert second != first and second.endswith(f":{cid}-r1")
    assert start(reopened, now) == second  # a redelivered record starts nothing more
    sfn = boto3.client("stepfunctions")
    assert sfn.describe_execution(executionArn=second)["status"] == "RUNNING"
    assert escalation.stop(as_complaint(reopened)) is True  # resolved again: the current run stops
    assert _finished(second)["status"] == "ABORTED"
    assert _finished(first)["status"] == "ABORTED"
