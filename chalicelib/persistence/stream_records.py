"""The CRM table's stream records, in the shape Lambda hands them to the stream consumer.

Two readers need it: the local stream pump (infra/pump.py, which plays the
event source mapping) and the operator's re-processing of dead-lettered
records (chalicelib/workflows/stream.py `redrive`), which reads a record back
from the stream by the shard and sequence numbers Lambda's on-failure message
names. The stream keeps a record for 24 hours; after that `read` raises
`Expired`.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime
from typing import Any

from chalicelib.aws import client, error_code

READ_PAGE_RECORDS = 100
_EMPTY_PAGES_BEFORE_GIVING_UP = 3  # an open shard answers empty pages at its end


class Expired(Exception):
    """The stream no longer holds the record (older than 24 hours, or its shard is gone)."""


def json_attribute_values(value: Any) -> Any:
    """boto3 hands binary attribute values over as bytes; Lambda events carry them base64 encoded."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: json_attribute_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_attribute_values(v) for v in value]
    if isinstance(value, set):
        return [json_attribute_values(v) for v in sorted(value)]
    return value


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A `GetRecords` record as Lambda puts it in the event: JSON types only, `eventSourceARN` added."""
    data = dict(record["dynamodb"])
    created = data.get("ApproximateCreationDateTime")
    # Lambda's events carry epoch seconds as a number, whole seconds (e.g. 1693997155.0); boto3 parsed it.
    moment = created.timestamp() if isinstance(created, datetime) else float(created or time.time())
    data["ApproximateCreationDateTime"] = float(int(moment))
    for key in ("Keys", "NewImage", "OldImage"):
        if key in data:
            data[key] = json_attribute_values(data[key])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": stream_arn.split(":")[3],
        "dynamodb": data,
        "eventSourceARN": stream_arn,
    }


def read(stream_arn: str, shard_id: str, first: str, last: str) -> list[dict[str, Any]]:
    """The records of `shard_id` with sequence numbers first..last (inclusive), in Lambda's shape.

    Raises Expired when the stream no longer has them.
    """
    streams = client("dynamodbstreams")
    try:
        iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id,
                                              ShardIteratorType="AT_SEQUENCE_NUMBER",
                                              SequenceNumber=first)["ShardIterator"]
    except Exception as exc:
        if error_code(exc) in ("TrimmedDataAccessException", "ResourceNotFoundException"):
            raise Expired(f"shard {shard_id} no longer holds sequence number {first}") from exc
        raise
    found: list[dict[str, Any]] = []
    lo, hi = int(first), int(last)
    empty = 0
    while iterator and empty < _EMPTY_PAGES_BEFORE_GIVING_UP:
        page = streams.get_records(ShardIterator=iterator, Limit=READ_PAGE_RECORDS)
        records = page.get("Records", [])
        empty = 0 if records else empty + 1
        for record in records:
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > hi:
                return found
            if sequence >= lo:
                found.append(lambda_record(record, stream_arn))
        iterator = page.get("NextShardIterator")
    if not found:
        raise Expired(f"shard {shard_id} has no record from sequence number {first}")
    return found
