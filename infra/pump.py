"""The local event pump: DynamoDB Streams records to the stream handler, as Lambda would deliver them.

moto stores a table's stream but invokes nothing (docs: ../shared/DESIGN.md),
so the local stack runs a `StreamPump` thread in its own process. It plays
the cloud's event source mapping (infra/template.yaml, the
`TableChangesDynamodbEventSource` merge entry) with the same settings:

- reads every shard of the table's latest stream from TRIM_HORIZON (nothing
  written before the pump started is missed; `starting_position="LATEST"`
  starts at the end instead, for tests on a shared table), polling `get_records` every
  `poll_interval_s`, and keeps its position per shard: a record that has
  been handled (or dead-lettered) is never delivered again;
- hands the records to the handler as Lambda does: `handler(event, context)`
  with `event = {"Records": [...]}` of at most `batch_size` records in the
  Lambda shape (`eventVersion` 1.1, `ApproximateCreationDateTime` in epoch
  seconds (a float of whole seconds, as Lambda sends it), images in DynamoDB JSON with binary values base64 encoded,
  `eventSourceARN`), and a Lambda-like context object;
- honours the partial batch response (`ReportBatchItemFailures`): only the
  records named in `batchItemFailures` are delivered again; a handler that
  raises, returns something that is not JSON, or names a record that is not
  in the batch fails the whole batch (as in Lambda);
- after `max_attempts` deliveries (1 + the mapping's MaximumRetryAttempts)
  a record that still fails goes to the dead-letter queue
  (relasi-<stage>-stream-dlq), one SQS message per record, and the shard
  moves on. The message has the shape of Lambda's on-failure record for
  stream sources (`requestContext`, `responseContext`, `DDBStreamBatchInfo`)
  plus, locally only, the `record` itself: in the cloud the message points
  at the stream instead (the record stays readable there for 24 hours).

Batches of one shard are delivered one after the other, a batch's retries
before the next batch, like Lambda's one-invocation-per-shard ordering.

`drain(timeout_s)` returns once every record that was in the stream when it
was called has been delivered (or dead-lettered); tests and `make run` use it.
Nothing here logs record contents (they hold customer data): only sequence
numbers, counts and exception types.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.clock import iso
from chalicelib.persistence import stream_records

logger = logging.getLogger("relasi.pump")

Handler = Callable[[dict[str, Any], Any], Any]

# The cloud's event source mapping (infra/template.yaml, TableChangesDynamodbEventSource)
# says the same; tests/test_pump.py checks they agree.
BATCH_SIZE = 100
MAXIMUM_RETRY_ATTEMPTS = 3
POLL_INTERVAL_S = 0.25
RETRY_DELAY_S = 0.1  # times the attempt number, between deliveries of failed records
TOPOLOGY_REFRESH_S = 5.0  # how often the stream ARN and its shards are looked up again
MAX_BATCHES_PER_SHARD_PER_CYCLE = 50  # then the other shards get their turn
FUNCTION_TIMEOUT_S = 60.0  # Chalice's default Lambda timeout: what get_remaining_time_in_millis counts down from
STREAM_FUNCTION = "table_changes"  # the handler's Chalice name (app.on_dynamodb_record(name=...))


def dlq_name(stage: str) -> str:
    return f"relasi-{stage}-stream-dlq"


class LambdaContext:
    """What Lambda passes as `context`, with the attributes Powertools and Chalice read."""

    def __init__(self, function_name: str, region: str, account_id: str, *,
                 timeout_s: float = FUNCTION_TIMEOUT_S, memory_limit_in_mb: int = 128) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    last_sequence_number: str | None = None  # of the last record handled or dead-lettered
    start: str = "TRIM_HORIZON"  # where reading begins while nothing has been read yet
    closed: bool = False  # read to its end (a split or a disabled stream ends a shard)


@dataclass
class PumpStats:
    batches: int = 0  # handler invocations
    records: int = 0  # records handled successfully
    redeliveries: int = 0  # records delivered again after a reported or raised failure
    dead_lettered: int = 0
    dead_letter_failures: int = 0  # records that failed for good and could not be dead-lettered either
    handler_errors: int = 0  # invocations that raised or answered something unusable
    poll_errors: int = 0  # AWS calls of the pump itself that failed
    batch_sizes: list[int] = field(default_factory=list)  # of the last 1000 invocations


class StreamPump:
    """Polls a table's stream and delivers its records to `handler` in Lambda-shaped batches.

    Start it with `start()` (a daemon thread) and end it with `stop()`; or call
    `poll_once()` yourself. All AWS calls go through boto3 clients made from
    the process's environment (AWS_ENDPOINT_URL points them at moto).
    """

    def __init__(
        self,
        handler: Handler,
        *,
        table_name: str | None = None,
        dlq_url: str | None = None,
        function_name: str | None = None,
        batch_size: int = BATCH_SIZE,
        max_attempts: int = 1 + MAXIMUM_RETRY_ATTEMPTS,
        poll_interval_s: float = POLL_INTERVAL_S,
        retry_delay_s: float = RETRY_DELAY_S,
        forget_moto_iterators: bool = True,
        starting_position: str = "TRIM_HORIZON",
    ) -> None:
        if not 1 <= batch_size <= 10000:
            raise ValueError("batch_size must be 1..10000 (Lambda's limits for DynamoDB streams)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if starting_position not in ("TRIM_HORIZON", "LATEST"):
            raise ValueError("starting_position is TRIM_HORIZON or LATEST")
        stage = os.environ.get("STAGE", "dev")
        self.handler = handler
        self.table_name = table_name or os.environ["TABLE_NAME"]
        self.function_name = function_name or f"relasi-{stage}-{STREAM_FUNCTION}"
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.poll_interval_s = poll_interval_s
        self.retry_delay_s = retry_delay_s
        self.forget_moto_iterators = forget_moto_iterators
        self.starting_position = starting_position
        self.stats = PumpStats()
        self._dlq_url = dlq_url
        self._dlq_name = dlq_name(stage)
        self._dynamodb = boto3.client("dynamodb")
        self._streams = boto3.client("dynamodbstreams")
        self._sqs = boto3.client("sqs")
        self._stream_arn: str | None = None
        self._shards: dict[str, _Shard] = {}
        self._topology_checked = 0.0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycle_lock = threading.Lock()  # one poll cycle at a time (thread, or drain() without a thread)
        self._progress = threading.Condition()
        self._cycles_started = 0
        self._caught_up_through = -1  # the last cycle that started at or after a drain() and read every shard dry
        self._warned_no_stream = False
        self._looked = False  # whether the stream's shards have been looked up once

    # ---------------------------------------------------------------- lifecycle

    @property
    def stream_arn(self) -> str | None:
        return self._stream_arn

    def start(self) -> StreamPump:
        if self._thread is not None:
            raise RuntimeError("the pump is already running")
        self._stop.clear()
        try:  # here, not in the thread: LATEST means the end of the stream when start() was called
            self._refresh_topology()
        except (BotoCoreError, ClientError):
            self._topology_checked = 0.0  # the thread tries again
        self._thread = threading.Thread(target=self._run, name="relasi-stream-pump", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ends the thread after the batch in hand (a batch is never left half-handled while running)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("stream pump still busy after %.0f s; left behind (daemon thread)", timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def drain(self, timeout_s: float = 10.0) -> None:
        """Returns once every record in the stream at the time of the call has been delivered or dead-lettered.

        Raises TimeoutError otherwise. Without a running thread the polling happens right here.
        """
        deadline = time.monotonic() + timeout_s
        self._topology_checked = 0.0  # look for a new stream or shards, too
        with self._progress:
            target = self._cycles_started
        if not self.running:
            while True:
                self._cycle()
                with self._progress:
                    if self._caught_up_through >= target:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"stream pump not caught up within {timeout_s:.1f} s")
                time.sleep(min(self.poll_interval_s, max(0.0, deadline - time.monotonic())))
        self._wake.set()
        with self._progress:
            if not self._progress.wait_for(lambda: self._caught_up_through >= target or not self.running,
                                           timeout=max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"stream pump not caught up within {timeout_s:.1f} s")
            if self._caught_up_through < target:
                raise RuntimeError("stream pump stopped before it caught up")

    def poll_once(self) -> bool:
        """One poll cycle over every shard; returns whether it read every shard to its current end."""
        return self._cycle()

    @contextlib.contextmanager
    def held(self, timeout_s: float = 10.0) -> Iterator[None]:
        """Nothing reaches the handler inside (a test that delivers the stream's records itself); on leaving, the
        pump goes on from where it stopped and delivers what was written inside, again where the test delivered it
        already (the consumer handles a record delivered twice once). Delivers what was written before first.
        Inside, drain() cannot return (the pump waits): do not call it."""
        self.drain(timeout_s)
        with self._cycle_lock:  # the thread waits at its next cycle
            yield

    @contextlib.contextmanager
    def paused(self, timeout_s: float = 10.0) -> Iterator[None]:
        """What is written inside never reaches the handler: as if the consumer were not deployed yet, or its
        records were lost. Delivers what was written before first; on leaving (however), reads the stream to its
        end and drops those records, then goes on as before. Tests on the shared table use it for history made
        "before the consumer". Inside, drain() cannot return (the pump waits): do not call it."""
        with self.held(timeout_s):  # held, and what was written inside dropped before the thread goes on
            try:
                yield
            finally:
                self._refresh_topology()
                while True:
                    dropped = 0
                    for shard in self._ready_shards():
                        while True:
                            got = self._read_batch(shard, deliver=False)
                            dropped += got
                            if not got or shard.closed:
                                break
                    if not dropped:
                        break

    # ---------------------------------------------------------------- polling

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a drain() from now on gets a cycle that starts after it
            try:
                self._cycle()
            except Exception:  # the pump must outlive any one failure; the next cycle retries
                self.stats.poll_errors += 1
                logger.exception("stream pump cycle failed")
            self._wake.wait(self.poll_interval_s)
        with self._progress:
            self._progress.notify_all()  # a drain() waiting for this thread gives up now

    def _cycle(self) -> bool:
        with self._cycle_lock:
            with self._progress:
                number = self._cycles_started
                self._cycles_started += 1
            caught_up = self._read_all()
            if caught_up:
                with self._progress:
                    self._caught_up_through = max(self._caught_up_through, number)
                    self._progress.notify_all()
            return caught_up

    def _read_all(self) -> bool:
        try:
            if time.monotonic() - self._topology_checked >= TOPOLOGY_REFRESH_S:
                self._refresh_topology()
        except (BotoCoreError, ClientError) as exc:
            self.stats.poll_errors += 1
            logger.warning("stream pump: cannot describe table %s or its stream (%s)", self.table_name,
                           type(exc).__name__)
            return False
        caught_up = True
        for shard in self._ready_shards():
            for _ in range(MAX_BATCHES_PER_SHARD_PER_CYCLE):
                if self._stop.is_set():
                    return False
                try:
                    got = self._read_batch(shard)
                except (BotoCoreError, ClientError) as exc:
                    self.stats.poll_errors += 1
                    logger.warning("stream pump: reading shard %s failed (%s); will retry", shard.shard_id,
                                   type(exc).__name__)
                    shard.iterator = None  # a fresh one from the position next time
                    caught_up = False
                    break
                if got == 0 or shard.closed:
                    break
            else:
                caught_up = False  # more to read: the next cycle goes on
        return caught_up

    def _refresh_topology(self) -> None:
        table = self._dynamodb.describe_table(TableName=self.table_name)["Table"]
        arn = table.get("LatestStreamArn")
        if not arn:
            if not self._warned_no_stream:
                logger.warning("stream pump: table %s has no stream; waiting for one", self.table_name)
                self._warned_no_stream = True
            self._topology_checked = time.monotonic()
            return
        if arn != self._stream_arn:
            if self._stream_arn is not None:
                logger.info("stream pump: table %s has a new stream; reading it from the start", self.table_name)
            self._stream_arn = arn
            self._shards = {}
        shards: list[dict[str, Any]] = []
        start: dict[str, Any] = {}
        while True:
            description = self._streams.describe_stream(StreamArn=arn, **start)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            start = {"ExclusiveStartShardId": last}
        at_the_end = self.starting_position == "LATEST" and not self._looked
        for s in shards:
            if s["ShardId"] not in self._shards:
                shard = _Shard(s["ShardId"], s.get("ParentShardId"))
                if at_the_end:  # the shards there are now: only what comes after this moment
                    if "EndingSequenceNumber" in s.get("SequenceNumberRange", {}):
                        shard.closed = True
                    else:  # taken now: an iterator taken later would skip what is written meanwhile
                        shard.start = "LATEST"
                        shard.iterator = self._streams.get_shard_iterator(
                            StreamArn=arn, ShardId=shard.shard_id, ShardIteratorType="LATEST")["ShardIterator"]
                self._shards[shard.shard_id] = shard
        self._looked = True  # shards and streams that appear from now on are read from their start
        self._topology_checked = time.monotonic()

    def _ready_shards(self) -> list[_Shard]:
        """Open shards whose parent is done (or unknown: trimmed), parents first."""
        return [s for s in self._shards.values()
                if not s.closed and (s.parent_id not in self._shards or self._shards[s.parent_id].closed)]

    def _read_batch(self, shard: _Shard, *, deliver: bool = True) -> int:
        assert self._stream_arn is not None
        if shard.iterator is None:
            position: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.last_sequence_number}
                if shard.last_sequence_number else {"ShardIteratorType": shard.start}
            )
            shard.iterator = self._streams.get_shard_iterator(
                StreamArn=self._stream_arn, ShardId=shard.shard_id, **position)["ShardIterator"]
        used = shard.iterator
        page = self._streams.get_records(ShardIterator=used, Limit=self.batch_size)
        records = page.get("Records", [])
        if records:
            if deliver:
                self._deliver(shard, [stream_records.lambda_record(r, self._stream_arn) for r in records])
            shard.last_sequence_number = records[-1]["dynamodb"]["SequenceNumber"]
        shard.iterator = page.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
        if self.forget_moto_iterators:
            _forget_moto_iterator(used)
        return len(records)

    # ---------------------------------------------------------------- delivery

    def _deliver(self, shard: _Shard, records: list[dict[str, Any]]) -> None:
        pending = records
        attempt = 1
        while True:
            failed, error = self._invoke(pending)
            self.stats.records += len(pending) - len(failed)
            if not failed:
                return
            if attempt >= self.max_attempts or self._stop.is_set():
                if attempt >= self.max_attempts:
                    self._dead_letter(shard, failed, attempt, error)
                return  # stopping: the pump ends here, a new one starts over from TRIM_HORIZON
            logger.warning("stream pump: %d of %d records failed (attempt %d of %d, %s); delivering those again",
                           len(failed), len(pending), attempt, self.max_attempts, error)
            self.stats.redeliveries += len(failed)
            self._stop.wait(self.retry_delay_s * attempt)
            pending = failed
            attempt += 1

    def _invoke(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
        """Calls the handler once; returns the records that failed and why ("" if none did)."""
        assert self._stream_arn is not None
        event = {"Records": json.loads(json.dumps(records))}  # a fresh copy each time, as Lambda decodes JSON
        account = self._stream_arn.split(":")[4]
        context = LambdaContext(self.function_name, self._stream_arn.split(":")[3], account)
        self.stats.batches += 1
        self.stats.batch_sizes = [*self.stats.batch_sizes[-999:], len(records)]
        try:
            result = self.handler(event, context)
            json.dumps(result)  # Lambda answers a non-JSON result with an error
        except Exception as exc:  # the function failed: every record of the batch did
            self.stats.handler_errors += 1
            # Type and stack only: an exception's message may carry customer data.
            logger.warning("stream handler raised %s on a batch of %d records (sequence numbers %s..%s):\n%s",
                           type(exc).__name__, len(records), records[0]["dynamodb"]["SequenceNumber"],
                           records[-1]["dynamodb"]["SequenceNumber"], "".join(traceback.format_tb(exc.__traceback__)))
            return records, f"Unhandled:{type(exc).__name__}"
        by_sequence = {r["dynamodb"]["SequenceNumber"]: r for r in records}
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return [], ""
        named: set[str] = set()
        for failure in failures if isinstance(failures, list) else [failures]:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in by_sequence:
                # Lambda's rule: an empty, malformed or unknown identifier fails the whole batch.
                self.stats.handler_errors += 1
                logger.warning("stream handler reported an item failure that names no record of the batch; "
                               "the whole batch counts as failed")
                return records, "InvalidBatchItemFailures"
            named.add(identifier)
        return [r for r in records if r["dynamodb"]["SequenceNumber"] in named], "ReportedFailure"

    def _dead_letter(self, shard: _Shard, records: list[dict[str, Any]], attempts: int, error: str) -> None:
        assert self._stream_arn is not None
        region, account = self._stream_arn.split(":")[3:5]
        url = self._dlq_url
        if url is None:
            try:
                url = self._dlq_url = self._sqs.get_queue_url(QueueName=self._dlq_name)["QueueUrl"]
            except (BotoCoreError, ClientError) as exc:
                self.stats.dead_letter_failures += len(records)
                logger.error("stream pump: records %s failed %d times (%s); the dead-letter queue %s is "
                             "unavailable (%s): dropped", [r["dynamodb"]["SequenceNumber"] for r in records],
                             attempts, error, self._dlq_name, type(exc).__name__)
                return
        for record in records:
            sequence = record["dynamodb"]["SequenceNumber"]
            arrival = _iso(record["dynamodb"]["ApproximateCreationDateTime"])
            message = {
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"arn:aws:lambda:{region}:{account}:function:{self.function_name}",
                    "condition": "RetryAttemptsExhausted",
                    "approximateInvokeCount": attempts,
                },
                "responseContext": {
                    "statusCode": 200,
                    "executedVersion": "$LATEST",
                    "functionError": error.split(":")[0],
                },
                "version": "1.0",
                "timestamp": _iso(time.time()),
                "DDBStreamBatchInfo": {
                    "shardId": shard.shard_id,
                    "startSequenceNumber": sequence,
                    "endSequenceNumber": sequence,
                    "approximateArrivalOfFirstRecord": arrival,
                    "approximateArrivalOfLastRecord": arrival,
                    "batchSize": 1,
                    "streamArn": self._stream_arn,
                },
                "record": record,  # local only: in the cloud the message points at the stream
            }
            try:
                self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))
            except (BotoCoreError, ClientError) as exc:
                self.stats.dead_letter_failures += 1
                logger.error("stream pump: record %s failed %d times (%s) and could not be sent to the "
                             "dead-letter queue (%s): dropped", sequence, attempts, error, type(exc).__name__)
                continue
            self.stats.dead_lettered += 1
            logger.error("stream pump: record %s failed %d times (%s); sent to the dead-letter queue %s",
                         sequence, attempts, error, url.rsplit("/", 1)[-1])


def _iso(epoch_s: float) -> str:
    return iso(datetime.fromtimestamp(epoch_s, UTC))


def _forget_moto_iterator(iterator: str) -> None:
    """moto keeps every shard iterator it ever issued (in its backend and in its model registry), one per
    get_records call: several kilobytes a second for a pump polling all day. When moto runs in this
    process, the pump removes the ones it has used up. Anything unexpected leaves moto as it is."""
    try:
        from moto.dynamodbstreams.models import ShardIterator, dynamodbstreams_backends

        for regions in list(dynamodbstreams_backends.values()):
            for backend in list(regions.values()):
                used = backend.shard_iterators.pop(iterator, None)
                if used is not None:
                    tracked = getattr(ShardIterator, "instances_tracked", [])
                    for i in range(len(tracked) - 1, -1, -1):
                        if tracked[i] is used:
                            del tracked[i]
                            break
                    return
    except Exception:  # an optimisation only
        pass
