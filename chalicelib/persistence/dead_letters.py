"""The stream consumer's dead-letter queue (infra/template.yaml StreamDeadLetterQueue, settings().stream_dlq_url).

Lambda's event source mapping sends it one message per batch it gave up on:
its `DDBStreamBatchInfo` names the stream, the shard and the first and last
sequence numbers (chalicelib/persistence/stream_records.py reads them back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.aws import client
from chalicelib.config import settings

RECEIVE_MAX_MESSAGES = 10  # SQS's maximum per ReceiveMessage
_COUNTED = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed")


@dataclass(frozen=True)
class DeadLetter:
    receipt: str
    batch: dict[str, Any] | None  # DDBStreamBatchInfo; None for a message that is not Lambda's on-failure record


def waiting() -> int:
    """How many messages the queue holds (visible, being handled, delayed): approximate, as SQS counts."""
    attributes = client("sqs").get_queue_attributes(QueueUrl=settings().stream_dlq_url,
                                                    AttributeNames=list(_COUNTED))["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in _COUNTED)


def receive(visibility_seconds: int) -> list[DeadLetter]:
    """Up to 10 messages, hidden from other readers for `visibility_seconds` (then visible again unless deleted)."""
    answer = client("sqs").receive_message(QueueUrl=settings().stream_dlq_url, MaxNumberOfMessages=RECEIVE_MAX_MESSAGES,
                                           VisibilityTimeout=visibility_seconds, WaitTimeSeconds=0)
    letters = []
    for message in answer.get("Messages", []):
        try:
            body = json.loads(message.get("Body") or "")
        except ValueError:
            body = None
        batch = body.get("DDBStreamBatchInfo") if isinstance(body, dict) else None
        letters.append(DeadLetter(message["ReceiptHandle"], batch if isinstance(batch, dict) else None))
    return letters


def delete(letter: DeadLetter) -> None:
    client("sqs").delete_message(QueueUrl=settings().stream_dlq_url, ReceiptHandle=letter.receipt)


def release(letter: DeadLetter) -> None:
    """Make a message visible again at once (left in the queue for the next run or a person)."""
    client("sqs").change_message_visibility(QueueUrl=settings().stream_dlq_url, ReceiptHandle=letter.receipt,
                                            VisibilityTimeout=0)
