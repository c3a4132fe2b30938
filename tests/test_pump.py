"""The local event pump (infra/pump.py) and the outbox (infra/outbox.py), against the session's moto.

Each pump test gets a table of its own (with a stream) and a dead-letter
queue of its own, and a recording fake handler, so nothing else writing to
moto shows up in what the handler saw.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra.pump import LambdaContext, StreamPump

FAST = {"poll_interval_s": 0.05, "retry_delay_s": 0.01}


class Recorder:
    """A stream handler that records every call; `fail(sequence_numbers, attempt)` says which records fail."""

    def __init__(self, fail: Callable[[list[str], int], list[str]] | None = None, *, raise_on: int | None = None):
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self.fail = fail
        self.raise_on = raise_on  # raise on this call number (1-based)
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append((event, context))
            call = len(self.calls)
        if call == self.raise_on:
            raise RuntimeError("handler failed")
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        failed = self.fail(sequence_numbers, call) if self.fail else []
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for event, _ in self.calls for r in event["Records"]]

    @property
    def batches(self) -> list[list[str]]:
        return [[r["dynamodb"]["SequenceNumber"] for r in event["Records"]] for event, _ in self.calls]


@pytest.fixture
def table(stack: dict[str, str]) -> Iterator[str]:
    name = f"pump-test-{uuid.uuid4().hex[:8]}"
    ddb = boto3.client("dynamodb")
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture
def dlq(stack: dict[str, str]) -> Iterator[str]:
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"pump-test-dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def pumps() -> Iterator[list[StreamPump]]:
    started: list[StreamPump] = []
    yield started
    for pump in started:
        pump.stop()


def put(table: str, pk: str, **attributes: Any) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "A"}, **attributes}
    boto3.client("dynamodb").put_item(TableName=table, Item=item)


def run_pump(pumps: list[StreamPump], table: str, dlq: str, handler: Any, **options: Any) -> StreamPump:
    pump = StreamPump(handler, table_name=table, dlq_url=dlq, **{**FAST, **options}).start()
    pumps.append(pump)
    return pump


def dlq_messages(url: str) -> list[dict[str, Any]]:
    got = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_puts_updates_and_deletes_arrive_once_each_in_lambda_shape(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    ddb = boto3.client("dynamodb")
    put(table, "c1", n={"N": "1"}, blob={"B": b"\x00\x01"}, tags={"SS": ["a", "b"]})  # before the pump starts
    handler = Recorder()
    pump = run_pump(pumps, table, dlq, handler)
    ddb.update_item(TableName=table, Key={"pk": {"S": "c1"}, "sk": {"S": "A"}}, UpdateExpression="SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "2"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "c1"}, "sk": {"S": "A"}})
    pump.drain(10)

    records = handler.records
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    for record in records:
        assert set(record) == {"eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
                               "eventSourceARN"}
        assert (record["eventVersion"], record["eventSource"]) == ("1.1", "aws:dynamodb")
        assert record["awsRegion"] == stack_region() and record["eventSourceARN"] == stream_arn
        data = record["dynamodb"]
        assert isinstance(data["ApproximateCreationDateTime"], float)  # epoch seconds, as Lambda sends it
        assert abs(data["ApproximateCreationDateTime"] - time.time()) < 60
        assert data["Keys"] == {"pk": {"S": "c1"}, "sk": {"S": "A"}}
        assert data["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(data["SequenceNumber"], str) and isinstance(data["SizeBytes"], int)
    insert, modify, remove = (r["dynamodb"] for r in records)
    assert insert["NewImage"] == {"pk": {"S": "c1"}, "sk": {"S": "A"}, "n": {"N": "1"}, "blob": {"B": "AAE="},
                                  "tags": {"SS": ["a", "b"]}}
    assert "OldImage" not in insert
    assert (modify["OldImage"]["n"], modify["NewImage"]["n"]) == ({"N": "1"}, {"N": "2"})
    assert remove["OldImage"]["n"] == {"N": "2"} and "NewImage" not in remove
    assert len({r["eventID"] for r in records}) == 3
    json.dumps([event for event, _ in handler.calls])  # pure JSON, as Lambda hands it over

    # what the real handler is wrapped in reads it: Chalice's event class and Powertools' data class
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
    from chalice.app import DynamoDBEvent

    event, context = handler.calls[0]
    chalice_record = next(iter(DynamoDBEvent(event, context)))
    assert chalice_record.table_name == table and chalice_record.timestamp.year == datetime.now(UTC).year
    powertools_record = next(DynamoDBStreamEvent(event).records)
    assert powertools_record.dynamodb is not None and powertools_record.dynamodb.new_image["n"] == 1
    assert isinstance(context, LambdaContext)
    assert context.function_name == "relasi-dev-table_changes"
    assert context.invoked_function_arn.endswith(":function:relasi-dev-table_changes")
    assert 0 < context.get_remaining_time_in_millis() <= 60_000 and context.aws_request_id
    assert pump.stats.dead_lettered == 0 and pump.stats.redeliveries == 0


def test_what_is_written_while_paused_never_arrives_and_the_pump_goes_on_after(
        table: str, dlq: str, pumps: list[StreamPump]) -> None:
    handler = Recorder()
    pump = run_pump(pumps, table, dlq, handler)
    put(table, "before")
    with pump.paused():  # delivers what came before first
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in handler.records] == ["before"]
        for n in range(3):
            put(table, f"lost-{n}")
        time.sleep(0.3)  # a few poll intervals: the thread waits
        assert len(handler.records) == 1
    put(table, "after")
    pump.drain(10)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in handler.records] == ["before", "after"]
    assert pump.stats.dead_lettered == 0


def stack_region() -> str:
    return boto3.session.Session().region_name or ""


def test_only_the_record_reported_as_failed_is_delivered_again(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    for i in range(5):
        put(table, f"c{i}")
    failing: list[str] = []

    def fail(sequence_numbers: list[str], call: int) -> list[str]:
        if call == 1:
            failing.append(sequence_numbers[2])
            return [sequence_numbers[2]]
        return []

    handler = Recorder(fail)
    pump = run_pump(pumps, table, dlq, handler)
    pump.drain(10)
    first, *again = handler.batches
    assert len(first) == 5
    assert again == [failing]  # that one record alone, once
    assert pump.stats.records == 5 and pump.stats.redeliveries == 1 and dlq_messages(dlq) == []


def test_a_handler_that_raises_gets_the_whole_batch_again(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    for i in range(3):
        put(table, f"c{i}")
    handler = Recorder(raise_on=1)
    pump = run_pump(pumps, table, dlq, handler)
    pump.drain(10)
    assert len(handler.batches) == 2 and handler.batches[0] == handler.batches[1]
    assert pump.stats.handler_errors == 1 and pump.stats.records == 3


def test_an_unknown_item_identifier_fails_the_whole_batch(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    put(table, "c1")
    put(table, "c2")
    handler = Recorder(lambda seqs, call: ["not-a-sequence-number"] if call == 1 else [])
    pump = run_pump(pumps, table, dlq, handler)
    pump.drain(10)
    assert [len(b) for b in handler.batches] == [2, 2]  # Lambda's rule


def test_a_record_failing_every_time_lands_in_the_dead_letter_queue(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    put(table, "good")
    put(table, "poison", note={"S": "bad"})
    ddb = boto3.client("dynamodb")

    def fail(sequence_numbers: list[str], call: int) -> list[str]:
        return [s for s in sequence_numbers if s == poison[0]]

    poison: list[str] = []
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    poison.append(streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"][1]["dynamodb"]["SequenceNumber"])

    handler = Recorder(fail)
    pump = run_pump(pumps, table, dlq, handler, max_attempts=3)
    pump.drain(10)
    assert [len(b) for b in handler.batches] == [2, 1, 1]  # delivered 3 times, then given up
    (message,) = dlq_messages(dlq)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["functionArn"].endswith(":function:relasi-dev-table_changes")
    assert message["responseContext"]["functionError"] == "ReportedFailure"
    info = message["DDBStreamBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == poison[0]
    assert (info["streamArn"], info["shardId"], info["batchSize"]) == (stream_arn, shard, 1)
    assert message["record"]["dynamodb"]["NewImage"]["note"] == {"S": "bad"}  # the payload, locally
    assert pump.stats.dead_lettered == 1

    put(table, "after")  # the shard goes on
    pump.drain(10)
    assert handler.batches[-1] != poison and len(handler.batches) == 4
    assert handler.records[-1]["dynamodb"]["Keys"]["pk"] == {"S": "after"}


def test_batches_never_exceed_100_and_every_record_arrives_once(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    ddb = boto3.client("dynamodb")
    for start in range(0, 250, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": f"c{i:03d}"}, "sk": {"S": "A"}}}} for i in range(start, start + 25)
        ]})
    handler = Recorder()
    pump = run_pump(pumps, table, dlq, handler)
    pump.drain(15)
    sizes = [len(b) for b in handler.batches]
    assert max(sizes) == 100 and sum(sizes) == 250
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in handler.records]
    assert sorted(keys) == [f"c{i:03d}" for i in range(250)]  # each once


def test_the_pump_keeps_its_position_across_polls(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    handler = Recorder()
    pump = run_pump(pumps, table, dlq, handler)
    put(table, "first")
    pump.drain(10)
    cycles = pump._cycles_started
    time.sleep(0.3)  # several empty polls
    assert pump._cycles_started > cycles + 2
    put(table, "second")
    put(table, "first", n={"N": "1"})
    pump.drain(10)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in handler.records] == [
        ("INSERT", "first"), ("INSERT", "second"), ("MODIFY", "first")]
    sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in handler.records]
    assert sequence_numbers == sorted(sequence_numbers, key=int) and len(set(sequence_numbers)) == 3


def test_drain_without_a_thread_polls_in_place(table: str, dlq: str) -> None:
    put(table, "c1")
    handler = Recorder()
    pump = StreamPump(handler, table_name=table, dlq_url=dlq, **FAST)
    pump.drain(5)
    pump.drain(5)
    assert len(handler.records) == 1


def test_the_local_stack_starts_a_pump_and_provisions_its_dead_letter_queue(
    stack: dict[str, str], table: str, pumps: list[StreamPump]
) -> None:
    from infra.local_stack import start_pump
    from infra.pump import dlq_name

    queue = boto3.client("sqs").get_queue_url(QueueName=dlq_name("dev"))["QueueUrl"]  # from infra/template.yaml
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    handler = Recorder()
    pump = start_pump(handler, table_name=table, **FAST)
    pumps.append(pump)
    assert pump.running
    put(table, "c1")
    pump.drain(10)
    assert len(handler.records) == 1
    pump.stop()
    assert not pump.running


# --------------------------------------------------------------------------
# the outbox
# --------------------------------------------------------------------------


def test_recipients_are_masked_but_their_last_four_characters() -> None:
    from infra.outbox import format_line, is_ops_topic, mask

    assert mask("+6281234567890") == "+*********7890"
    assert mask("budi@contoh.co.id") == "*************o.id"
    assert mask("+123") == "+123" and mask("ab") == "ab"
    assert is_ops_topic("relasi-dev-ops") and is_ops_topic("relasi-dev-ops-quality_control")
    assert not is_ops_topic("relasi-dev-inbound-sms") and not is_ops_topic("relasi-dev-shops")
    line = format_line({"at": "2026-11-23T01:02:03.000Z", "channel": "email", "recipient": mask("a@b.cd"),
                        "subject": "Hi", "text": "line one\n  line two"})
    assert line == "2026-11-23T01:02:03.000Z  email  **b.cd  [Hi] line one line two"


def test_the_outbox_shows_sms_email_and_ops_alerts_newest_last(stack: dict[str, str], capsys: Any) -> None:
    from infra import outbox

    port = int(stack_endpoint().rsplit(":", 1)[1])
    marker = uuid.uuid4().hex[:8]
    phone = "+6281299" + str(uuid.uuid4().int)[:6]
    address = f"pump-{marker}@contoh.co.id"
    sns = boto3.client("sns")
    sns.publish(PhoneNumber=phone, Message=f"SMS {marker}")
    ses = boto3.client("sesv2")
    ses.create_email_identity(EmailIdentity=f"{marker}.example")
    ses.send_email(FromEmailAddress=f"no-reply@{marker}.example", Destination={"ToAddresses": [address]},
                   Content={"Simple": {"Subject": {"Data": f"Subject {marker}"}, "Body": {"Text": {"Data": "Body\ntext"}}}})
    sns.publish(TopicArn=stack["OPS_TOPIC_ARN"], Message=f"alert {marker}", Subject="Escalation",
                MessageAttributes={"level": {"DataType": "Number", "StringValue": "2"}})
    other = sns.create_topic(Name=f"pump-test-{marker}")["TopicArn"]
    sns.publish(TopicArn=other, Message=f"not ops {marker}")

    mine = [m for m in outbox.fetch(port) if marker in m["text"] or marker in (m["subject"] or "")]
    assert [(m["channel"], m["recipient"]) for m in mine] == [
        ("sms", outbox.mask(phone)), ("email", outbox.mask(address)), ("ops", "relasi-dev-ops")]
    sms, mail, alert = mine
    assert sms["text"] == f"SMS {marker}" and phone[-4:] in sms["recipient"] and phone[:-4] not in sms["recipient"]
    assert (mail["subject"], mail["text"]) == (f"Subject {marker}", "Body\ntext")
    assert (alert["subject"], alert["attributes"]) == ("Escalation", {"level": "2"})
    assert sms["at"] <= mail["at"] <= alert["at"] and sms["at"].endswith("Z")
    assert [m["channel"] for m in outbox.fetch(port, channel="ops") if marker in m["text"]] == ["ops"]

    assert outbox.main(["--aws-port", str(port)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if marker in line]
    assert len(lines) == 3 and lines[0].split()[1:3] == ["sms", outbox.mask(phone)]
    assert lines[1].endswith(f"[Subject {marker}] Body text")
    assert phone not in "\n".join(lines) and address not in "\n".join(lines)


def stack_endpoint() -> str:
    import os

    return os.environ["AWS_ENDPOINT_URL"]


def test_moto_does_not_hoard_the_pumps_used_shard_iterators(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    from moto.dynamodbstreams.models import ShardIterator, dynamodbstreams_backends

    def held() -> int:
        return sum(len(b.shard_iterators) for regions in dynamodbstreams_backends.values() for b in regions.values())

    pump = run_pump(pumps, table, dlq, Recorder())
    pump.drain(10)
    before, tracked = held(), len(ShardIterator.instances_tracked)
    cycles = pump._cycles_started
    time.sleep(0.5)
    assert pump._cycles_started >= cycles + 5
    assert held() <= before + 1 and len(ShardIterator.instances_tracked) <= tracked + 1


def test_latest_skips_what_was_written_before_the_pump_started(table: str, dlq: str, pumps: list[StreamPump]) -> None:
    put(table, "old")
    handler = Recorder()
    pump = run_pump(pumps, table, dlq, handler, starting_position="LATEST")
    put(table, "new")
    pump.drain(10)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in handler.records] == ["new"]


def test_a_new_complaint_reaches_the_real_handler_through_the_pump(stream_pump: StreamPump, as_user: Any) -> None:
    from infra import outbox

    agent = as_user("agent.jakarta")
    customer = agent.new_customer()
    stream_pump.drain(15)
    before = (stream_pump.stats.dead_lettered, stream_pump.stats.handler_errors)  # the session's pump: so far
    created = agent.post(f"/customers/{customer['id']}/complaints", {
        "category": "service", "severity": "high", "subject": "Brake noise",
        "description": "Squeaking brakes since the last service visit."})
    assert created.status_code == 201, created.body
    stream_pump.drain(15)
    stream_pump.drain(15)  # a second look delivers nothing again
    sms = [m for m in outbox.RECORDER.messages()
           if m["channel"] == "sms" and m["recipient"] == outbox.mask(customer["phone"])]
    assert len(sms) == 1  # the "complaint received" message, once
    assert (stream_pump.stats.dead_lettered, stream_pump.stats.handler_errors) == before
