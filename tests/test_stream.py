"""The stream consumer, fed with Lambda-shaped events built from the table's real stream records.

moto stores the stream but triggers nothing; these tests read the records
with the DynamoDB Streams API and hand them to the real handler
(`app.on_table_change`) as Lambda would, including redeliveries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from tests.test_api_complaints import _complaint, _move

ACCOUNT, REGION = "123456789012", "ap-southeast-3"


class _Context:
    function_name = "relasi-table_changes"
    aws_request_id = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:relasi-table_changes"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


class Stream:
    """Reads the table's stream from where the previous read stopped (at first: from its end, as it is now)."""

    def __init__(self, table: str) -> None:
        self.client = boto3.client("dynamodbstreams")
        self.arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.iterators: dict[str, str] = {}
        self.closed: set[str] = set()  # shards that had ended before: nothing of them is read
        for shard in self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            if "EndingSequenceNumber" in shard["SequenceNumberRange"]:
                self.closed.add(shard["ShardId"])
            else:  # from now on (reading the session's whole stream to its end takes seconds)
                self.iterators[shard["ShardId"]] = self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")["ShardIterator"]

    def _read(self) -> list[dict[str, Any]]:
        """Every record since the last read: GetRecords answers at most 1,000 at a time, and the session's table
        has far more history than that, so each shard is read until it has nothing more."""
        records = []
        for shard in self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            sid = shard["ShardId"]
            if sid in self.closed:
                continue
            if sid not in self.iterators:
                self.iterators[sid] = self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while True:
                out = self.client.get_records(ShardIterator=self.iterators[sid])
                self.iterators[sid] = out["NextShardIterator"]
                records += out["Records"]
                if not out["Records"]:
                    break
        return records

    def skip(self) -> None:
        self._read()

    def event(self) -> dict[str, Any]:
        records = []
        for r in self._read():
            r = json.loads(json.dumps(r, default=lambda v: v.timestamp()))  # ApproximateCreationDateTime as a number
            r["eventSourceARN"] = self.arn
            records.append(r)
        return {"Records": records}


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    import app

    return dict(app.on_table_change(event, _Context()))


def sms_to(phone: str) -> list[str]:
    from moto.sns.models import sns_backends

    return [text for number, text in sns_backends[ACCOUNT][REGION].sms_messages.values() if number == phone]


def emails_to(address: str) -> list[Any]:
    from moto.ses.models import ses_backends

    return [m for m in ses_backends[ACCOUNT]["us-east-1"].sent_messages + ses_backends[ACCOUNT][REGION].sent_messages
            if address in m.destinations.get("ToAddresses", [])]


def executions(complaint_id: str) -> list[dict[str, Any]]:
    from chalicelib.config import settings

    pages = boto3.client("stepfunctions").get_paginator("list_executions").paginate(
        stateMachineArn=settings().escalation_state_machine_arn)  # every page: the session's stack holds hundreds
    return [e for page in pages for e in page["executions"] if e["name"] == complaint_id]


def test_a_new_complaint_texts_the_customer_once_and_starts_one_escalation(as_user: Any, stream: Stream) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(language="en")
    c = agent.post(f"/customers/{customer['id']}/complaints", _complaint(severity="critical")).json
    event = stream.event()
    assert deliver(event) == {"batchItemFailures": []}
    assert deliver(event) == {"batchItemFailures": []}  # redelivered: nothing happens twice
    texts = sms_to(customer["phone"])
    assert len(texts) == 1 and c["id"][-8:] in texts[0] and "received your complaint" in texts[0]
    assert customer["name"] not in texts[0]
    assert len(executions(c["id"])) == 1
    timeline = agent.get(f"/customers/{customer['id']}/timeline").json["items"]
    sent = [i for i in timeline if i["type"] == "interaction" and i["direction"] == "outbound"]
    assert len(sent) == 1 and sent[0]["delivery"] == "sent" and sent[0]["channel"] == "sms" and sent[0]["ref"] == c["id"]


def test_resolving_texts_again_in_the_customers_language_by_email_when_preferred(as_user: Any, stream: Stream) -> None:
    agent = as_user("agent.jakarta")
    email = f"{uuid.uuid4().hex[:8]}@contoh.co.id"
    customer = agent.new_customer(preferred_channel="email", email=email, language="id")
    c = agent.post(f"/customers/{customer['id']}/complaints", _complaint()).json
    deliver(stream.event())
    for step in ({"status": "acknowledged"}, {"status": "in_progress"},
                 {"status": "resolved", "resolution_note": "Fixed"}):
        c = _move(agent, c, **step).json
    assert deliver(stream.event()) == {"batchItemFailures": []}
    mails = emails_to(email)
    assert [m.subject for m in mails] == [f"Keluhan Anda kami terima ({c['id'][-8:]})",
                                          f"Keluhan Anda telah diselesaikan ({c['id'][-8:]})",
                                          f"Bagaimana penanganan keluhan Anda? ({c['id'][-8:]})"]  # the survey
    assert sms_to(customer["phone"]) == []


def test_complaint_messages_are_transactional_but_respect_stop(as_user: Any, stream: Stream) -> None:
    from chalicelib.persistence import consent as opt_outs

    agent = as_user("agent.jakarta")
    no_marketing = agent.new_customer(consent={"sms_marketing": {"value": False, "source": "form"}})
    stopped = agent.new_customer()
    opt_outs.set_sms_opt_out(stopped["phone"], True, at="2026-01-01T00:00:00.000Z", source="sms-reply")
    for customer in (no_marketing, stopped):
        agent.post(f"/customers/{customer['id']}/complaints", _complaint())
    assert deliver(stream.event()) == {"batchItemFailures": []}
    assert len(sms_to(no_marketing["phone"])) == 1
    assert sms_to(stopped["phone"]) == []
    skipped = [i for i in agent.get(f"/customers/{stopped['id']}/timeline").json["items"] if i["type"] == "interaction"]
    assert [(i["delivery"], i["reason"]) for i in skipped] == [("skipped", "sms_opted_out")]


def test_one_failing_record_is_reported_alone_and_its_retry_sends_once(
    as_user: Any, stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import messaging

    agent = as_user("agent.jakarta")
    good, bad = agent.new_customer(), agent.new_customer()
    for customer in (good, bad):
        agent.post(f"/customers/{customer['id']}/complaints", _complaint())
    event = stream.event()
    real_send = messaging.send_sms

    def flaky(phone: str, text: str, **options: Any) -> str:
        if phone == bad["phone"]:
            from chalicelib.domain.errors import ServiceUnavailable

            raise ServiceUnavailable("SMS down")
        return real_send(phone, text, **options)

    monkeypatch.setattr(messaging, "send_sms", flaky)
    result = deliver(event)
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    bad_records = [r for r in event["Records"]
                   if r["dynamodb"].get("NewImage", {}).get("type", {}).get("S") == "complaint"
                   and r["dynamodb"]["NewImage"]["customer_id"]["S"] == bad["id"]]
    assert failed == {r["dynamodb"]["SequenceNumber"] for r in bad_records} and len(failed) == 1
    monkeypatch.setattr(messaging, "send_sms", real_send)
    retry = {"Records": [r for r in event["Records"] if r["dynamodb"]["SequenceNumber"] in failed]}
    assert deliver(retry) == {"batchItemFailures": []}
    assert len(sms_to(good["phone"])) == 1 and len(sms_to(bad["phone"])) == 1
    # what serving them cost: the failed try's claim was released (its notification deleted), the retry's counts
    assert deliver(stream.event()) == {"batchItemFailures": []}
    from chalicelib.domain import engagement as eng
    from tests.test_engagement import engagement_of

    for customer in (good, bad):
        sent = [i["id"] for i in agent.get(f"/customers/{customer['id']}/interactions").json["items"]
                if i.get("delivery") == "sent"]
        kept = engagement_of(customer["id"])
        assert len(sent) == 1 and kept is not None and [eng.message_of(v).ref for v in kept.messages] == sent


def test_a_reopened_complaint_escalates_again_from_the_reopen(as_user: Any, stream: Stream) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(language="en")
    c = agent.post(f"/customers/{customer['id']}/complaints", _complaint(severity="critical")).json
    assert deliver(stream.event()) == {"batchItemFailures": []}
    (first,) = executions(c["id"])
    for status, extra in (("acknowledged", {}), ("in_progress", {}), ("resolved", {"resolution_note": "done"}),
                          ("in_progress", {})):  # the last one reopens it
        c = agent.patch(f"/complaints/{c['id']}", {"status": status, **extra},
                        headers={"If-Match": f'"v{c["version"]}"'}).json
    event = stream.event()
    assert deliver(event) == {"batchItemFailures": []}
    assert deliver(event) == {"batchItemFailures": []}  # redelivered: still one new run
    sfn = boto3.client("stepfunctions")
    assert sfn.describe_execution(executionArn=first["executionArn"])["status"] == "ABORTED"  # stopped when resolved
    (again,) = executions(f"{c['id']}-r1")
    assert sfn.describe_execution(executionArn=again["executionArn"])["status"] == "RUNNING"
    levels = json.loads(sfn.describe_execution(executionArn=again["executionArn"])["input"])["levels"]
    assert levels[1]["escalate_at"] == c["resolve_due_at"] and c["reopened_at"] < c["resolve_due_at"]


def test_an_escalation_enters_the_complaints_history_once_and_changes_nothing_else(
        as_user: Any, stack: dict[str, str], stream: Stream) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(language="en")
    c = agent.post(f"/customers/{customer['id']}/complaints", _complaint(severity="critical")).json
    assert deliver(stream.event()) == {"batchItemFailures": []}
    # what the escalation state machine's "L1 Escalate" state writes (chalicelib/workflows/escalation.asl.json)
    boto3.client("dynamodb").update_item(
        TableName=stack["TABLE_NAME"], Key={"pk": {"S": f"X#{c['id']}"}, "sk": {"S": "COMPLAINT"}},
        UpdateExpression="SET escalation_level = :l, breached = :t, escalated_at = :now, version = version + :one",
        ExpressionAttributeValues={":l": {"N": "1"}, ":t": {"BOOL": True}, ":now": {"S": "2026-12-05T10:00:00.000Z"},
                                   ":one": {"N": "1"}})
    event = stream.event()
    assert deliver(event) == {"batchItemFailures": []}
    assert deliver(event) == {"batchItemFailures": []}  # redelivered: recorded once
    got = agent.get(f"/complaints/{c['id']}").json
    escalations = [h for h in got["history"] if h["change"] == "escalation"]
    assert escalations == [{"at": "2026-12-05T10:00:00.000Z", "by": "escalation", "change": "escalation",
                            "from": "L0", "to": "L1"}]
    assert got["escalation_level"] == 1 and got["version"] == c["version"] + 1
    assert len(sms_to(customer["phone"])) == 1  # the escalation tells the customer nothing
    # an agent's change afterwards keeps the escalation's time
    moved = agent.patch(f"/complaints/{c['id']}", {"status": "acknowledged"}, headers={"If-Match": f'"v{got["version"]}"'})
    assert moved.status_code == 200, moved.body
    item = boto3.client("dynamodb").get_item(TableName=stack["TABLE_NAME"],
                                             Key={"pk": {"S": f"X#{c['id']}"}, "sk": {"S": "COMPLAINT"}})["Item"]
    assert item["escalated_at"] == {"S": "2026-12-05T10:00:00.000Z"}
