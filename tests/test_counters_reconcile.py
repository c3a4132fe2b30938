"""Live counters that drifted are found and repaired; dead-lettered stream records are re-processed once.

Both jobs run as an operator or the schedule runs them on the local stack
(`make trigger JOB=...`: the scheduler's route, each as its packaged function,
under its packaged IAM policy). The session's table holds every other test's
items, most of whose stream records were never delivered, so these tests look
only at counters of days no other test uses.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from chalicelib.domain.aggregates import ALL, CounterKey
from infra.pump import StreamPump
from tests.test_analytics_aggregates import counters
from tests.test_api_complaints import _complaint
from tests.test_stream import executions, sms_to

WIB = ZoneInfo("Asia/Jakarta")


def fire(job: str, day: date | None, payload: Any = None) -> Any:
    """`make trigger JOB=job DATE=day`, or with a payload what `aws lambda invoke --payload` does."""
    from infra import scheduler

    jobs = scheduler.ROUTE.standby
    assert jobs is not None, "the local stack registers the app's jobs"
    return jobs.invoke(job, payload) if day is None else jobs.fire(job, day)


def _empty(url: str) -> None:
    """Delete every message (PurgeQueue is allowed once a minute), hidden ones included."""
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)\
            .get("Messages"):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def empty_dead_letter_queue(stack: dict[str, str]) -> str:
    url = str(stack["STREAM_DLQ_URL"])
    _empty(url)
    return url


def _unused_day() -> date:
    """A day in 2025 no other test records interactions on (their counters are this test's alone)."""
    return date(2025, 1, 1) + timedelta(days=random.randrange(365))


def _interaction(agent: Any, customer: dict[str, Any], on: date) -> None:
    at = datetime(on.year, on.month, on.day, 10, 0, tzinfo=WIB).astimezone(ZoneInfo("UTC"))
    answer = agent.post(f"/customers/{customer['id']}/interactions", {
        "channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "asked about a price",
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert answer.status_code == 201, answer.body


def _add(stack: dict[str, str], key: CounterKey, n: int) -> None:
    """A counter changed by something that is not a stream record (a bug, a hand edit)."""
    boto3.client("dynamodb").update_item(
        TableName=stack["ANALYTICS_TABLE_NAME"], Key={"pk": {"S": f"AGG#{key.scope}"}, "sk": {"S": f"DAY#{key.period}"}},
        UpdateExpression="ADD #n :n", ExpressionAttributeNames={"#n": key.name},
        ExpressionAttributeValues={":n": {"N": str(n)}})


def test_drift_found_twice_alike_is_repaired_once_and_never_while_records_wait_in_the_dead_letter_queue(
        as_user: Any, stack: dict[str, str], stream_pump: Any, empty_dead_letter_queue: str,
        capfd: pytest.CaptureFixture[str]) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer()
    counted_day, lost_day = _unused_day(), _unused_day()
    while lost_day == counted_day:
        lost_day = _unused_day()
    _interaction(agent, customer, counted_day)
    stream_pump.drain()
    with stream_pump.paused():  # this record is lost (nothing delivers it)
        _interaction(agent, customer, lost_day)
    doubled = CounterKey("jakarta", counted_day.isoformat(), "int|visit")
    _add(stack, doubled, 3)
    _add(stack, doubled._replace(scope=ALL), 3)
    lost = CounterKey("jakarta", lost_day.isoformat(), "int|visit")
    mine = {doubled: 1, doubled._replace(scope=ALL): 1, lost: 1, lost._replace(scope=ALL): 1}  # the truth
    assert {k: counters(stack).get(k, 0) for k in mine} == {**mine, doubled: 4, doubled._replace(scope=ALL): 4,
                                                            lost: 0, lost._replace(scope=ALL): 0}

    day = date(2026, 11, 2)
    first = fire("counters-reconcile", day)
    assert first["status"] in ("drifting", "held", "repaired") and first["drifting"] >= 4
    # found, not repaired: one recount cannot tell a lost record from one still on its way
    assert counters(stack)[doubled] == 4 and counters(stack)[lost] == 0
    assert fire("counters-reconcile", day)["status"] == "too_soon"  # the same hour again: judged later

    # records wait in the dead-letter queue: a redrive could count what a repair adds, so nothing is repaired
    boto3.client("sqs").send_message(QueueUrl=empty_dead_letter_queue, MessageBody=json.dumps({"note": "waiting"}))
    held = fire("counters-reconcile", day + timedelta(days=1))
    assert held["status"] == "held" and held["dead_letters_waiting"] == 1 and held["repaired"] == 0
    assert held["confirmed"] >= 4
    assert counters(stack)[doubled] == 4

    _empty(empty_dead_letter_queue)
    capfd.readouterr()
    repaired = fire("counters-reconcile", day + timedelta(days=2))
    assert repaired["status"] == "repaired" and repaired["dead_letters_waiting"] == 0
    assert {k: counters(stack).get(k, 0) for k in mine} == mine
    listed = {(c["scope"], c["period"], c["name"]): c["by"] for c in repaired["repaired_counters"]}
    assert listed.get(tuple(doubled)) == -3 or len(listed) == 50  # the largest repairs are listed
    metrics = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"CounterDriftConfirmed"' in line]
    assert metrics and metrics[-1]["CounterDriftConfirmed"] == [float(repaired["confirmed"])] and repaired["confirmed"] >= 4
    assert customer["name"] not in json.dumps(repaired)  # counters, never customers

    # repaired for good: a later run finds these counters right and changes nothing
    again = fire("counters-reconcile", day + timedelta(days=3))
    assert again["repaired"] == 0 and again["status"] in ("clean", "drifting")
    assert {k: counters(stack).get(k, 0) for k in mine} == mine


def test_a_redrive_hands_dead_lettered_records_to_the_consumer_once_and_empties_the_queue(
        as_user: Any, stack: dict[str, str], empty_dead_letter_queue: str, stream_pump: Any) -> None:
    def always_fails(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("the consumer is broken today")

    agent = as_user("agent.jakarta")
    customer = agent.new_customer(language="en")
    with stream_pump.paused():  # the broken consumer is the only one meanwhile
        broken = StreamPump(always_fails, dlq_url=empty_dead_letter_queue, max_attempts=2, retry_delay_s=0.01,
                            poll_interval_s=0.05, starting_position="LATEST").start()
        try:
            complaint = agent.post(f"/customers/{customer['id']}/complaints", _complaint(severity="critical")).json
            broken.drain()
        finally:
            broken.stop()
    dead = broken.stats.dead_lettered  # the complaint's items (the case, its links): one message each
    assert dead >= 1 and sms_to(customer["phone"]) == [] and executions(complaint["id"]) == []
    sqs = boto3.client("sqs")
    message = sqs.receive_message(QueueUrl=empty_dead_letter_queue, VisibilityTimeout=0)["Messages"][0]
    sqs.send_message(QueueUrl=empty_dead_letter_queue, MessageBody=message["Body"])  # one record, twice
    sqs.send_message(QueueUrl=empty_dead_letter_queue, MessageBody="not Lambda's on-failure record")

    report = fire("stream-redrive", date.today())
    assert report == {"status": "incomplete", "redriven": dead + 1, "still_failing": 0, "expired": 0,
                      "discarded": 0, "unreadable": 1, "records": dead + 1}
    texts = sms_to(customer["phone"])
    assert len(texts) == 1 and "received your complaint" in texts[0]  # handled twice, told once
    assert len(executions(complaint["id"])) == 1
    # what is left is the unreadable message, for a person; a second redrive finds no record to handle again
    assert fire("stream-redrive", date.today())["redriven"] == 0
    assert len(sms_to(customer["phone"])) == 1


def test_a_record_the_stream_no_longer_holds_is_kept_unless_the_operator_discards_it(
        stack: dict[str, str], empty_dead_letter_queue: str) -> None:
    arn = boto3.client("dynamodb").describe_table(TableName=stack["TABLE_NAME"])["Table"]["LatestStreamArn"]
    shard = boto3.client("dynamodbstreams").describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    beyond = str(10 ** 30)  # a sequence number the shard never had (what a record older than 24 hours looks like)
    body = {"DDBStreamBatchInfo": {"streamArn": arn, "shardId": shard, "startSequenceNumber": beyond,
                                   "endSequenceNumber": beyond, "batchSize": 1}}
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=empty_dead_letter_queue, MessageBody=json.dumps(body))
    kept = fire("stream-redrive", date.today())
    assert (kept["status"], kept["expired"], kept["discarded"]) == ("incomplete", 1, 0)
    _empty(empty_dead_letter_queue)
    sqs.send_message(QueueUrl=empty_dead_letter_queue, MessageBody=json.dumps(body))
    discarded = fire("stream-redrive", None, {"discard_expired": True})
    assert (discarded["status"], discarded["expired"], discarded["discarded"]) == ("done", 0, 1)
    attributes = sqs.get_queue_attributes(QueueUrl=empty_dead_letter_queue, AttributeNames=["All"])["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0
