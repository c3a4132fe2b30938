"""A campaign to a large audience (issue 15, section 6): DynamoDB items read per audience member while the audience
is fixed (target <= 2), items written per message sent (target <= 2), the largest state the state machine
carries (its execution input and every step's output), and the time to fix the audience.

The local stack starts in this process as in bench.dynamodb. N customers are built and loaded as in
bench.reminders (the same population: consent, STOP list, languages). A campaign to all of them is written and
scheduled through the use cases, and `chalicelib.workflows.campaigns.step` (what the campaign-sender function
runs) is called as the state machine calls it, counting what botocore answered this thread: first until the
audience is fixed (every row written), then for SEND_SAMPLE messages (sending all of them at 10 SMS parts a
second would take hours of wall time locally and measures nothing more per message: each page of 100 is the
same work). The rate is lifted for the bench (CAMPAIGN_SMS_PARTS_PER_SECOND), and the send window opened
(CAMPAIGN_SEND_DAYS, CAMPAIGN_SEND_HOURS): the pacing and the window are tested in tests/test_campaigns.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.dynamodb import _free_port, _quiet_simulator
from bench.reminders import DEFAULT_DAY, _reset_moto, build_population, faster_moto, load_population

# moto answers a Query on an index by looking at every item of the table, so fixing an audience of N costs
# N/500 pages x N items here (quadratic; DynamoDB reads the page only): 100,000 would take hours. The counts
# per audience member and per message do not depend on N (a page is the same work); measured at 20,000.
DEFAULT_RECIPIENTS = 20_000
SEND_SAMPLE = 3_000
READ_TARGET = 2.0  # items read per audience member
WRITE_TARGET = 2.0  # items written per message sent


@dataclass
class Count:
    requests: Counter[str] = field(default_factory=Counter)
    items_read: int = 0  # ScannedCount of Queries, items of BatchGetItem answers, GetItem 1 each
    items_written: int = 0  # PutItem/UpdateItem/DeleteItem 1 each, transaction and batch items (not checks)


class _Counter:
    """botocore's answers to this thread's DynamoDB calls (as bench.reminders.ItemCounter, writes too)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.count: Count | None = None
        self._original: Callable[..., Any] | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            count = counter.count
            if count is None or threading.get_ident() != counter.thread \
                    or client.meta.service_model.service_name != "dynamodb":
                return original(client, operation, params)
            count.requests[operation] += 1
            if operation in ("PutItem", "UpdateItem", "DeleteItem"):
                count.items_written += 1
            elif operation == "TransactWriteItems":
                count.items_written += sum(1 for t in params.get("TransactItems", []) if "ConditionCheck" not in t)
            elif operation == "BatchWriteItem":
                count.items_written += sum(len(v) for v in params.get("RequestItems", {}).values())
            elif operation == "GetItem":
                count.items_read += 1
            answer = original(client, operation, params)
            if isinstance(answer, dict):
                if operation == "Query":
                    count.items_read += int(answer.get("ScannedCount", 0))
                elif operation == "BatchGetItem":
                    count.items_read += sum(len(items) for items in answer.get("Responses", {}).values())
            return answer

        BaseClient._make_api_call = counting  # type: ignore[method-assign]
        try:
            yield
        finally:
            BaseClient._make_api_call = original  # type: ignore[method-assign]

    @contextlib.contextmanager
    def capture(self) -> Iterator[Count]:
        self.count = Count()
        try:
            yield self.count
        finally:
            self.count = None


@dataclass
class CampaignBench:
    customers: int
    matched: int
    snapshot: Count
    snapshot_seconds: float
    snapshot_steps: int
    sent: int  # messages handed over in the sample
    sample_rows: int  # rows of the send arm the sample went through (sent, capped, withdrawn)
    sending: Count
    send_seconds: float
    largest_state_bytes: int
    load_seconds: float
    speedups: list[str] = field(default_factory=list)

    @property
    def read_per_member(self) -> float:
        return self.snapshot.items_read / self.customers if self.customers else 0.0

    @property
    def written_per_message(self) -> float:
        return self.sending.items_written / self.sent if self.sent else 0.0

    @property
    def read_per_message(self) -> float:
        return self.sending.items_read / self.sent if self.sent else 0.0

    def verdicts(self) -> tuple[str, str]:
        return ("meets" if self.read_per_member <= READ_TARGET else "MISSES",
                "meets" if self.written_per_message <= WRITE_TARGET else "MISSES")


def measure(customers: int = DEFAULT_RECIPIENTS, sample: int = SEND_SAMPLE, progress: bool = True) -> CampaignBench:
    def say(text: str) -> None:
        if progress:
            print(f"  {text}", file=sys.stderr, flush=True)

    saved = dict(os.environ)
    server = None
    try:
        with contextlib.redirect_stdout(io.StringIO()), _quiet_simulator(), faster_moto() as speedups:
            _reset_moto()
            os.environ.update(CAMPAIGN_SMS_PARTS_PER_SECOND="1000000", CAMPAIGN_SEND_DAYS="1-7",
                              CAMPAIGN_SEND_HOURS="0-24", QUIET_HOURS="off")
            from infra.local_stack import prepare

            say("starting moto and provisioning the stack")
            server, _env = prepare(_free_port(), seed=False)
            say(f"building and loading {customers} customers")
            clock = time.perf_counter()
            load_population(build_population(customers, DEFAULT_DAY), say)
            load_seconds = time.perf_counter() - clock
            result = _run(customers, sample, say)
            result.load_seconds, result.speedups = load_seconds, list(speedups)
            return result
    finally:
        if server is not None:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)
        _reset_moto()


def _run(customers: int, sample: int, say: Callable[[str], None]) -> CampaignBench:
    from chalicelib.api.campaigns_models import CampaignCreate
    from chalicelib.domain import campaigns as rules
    from chalicelib.domain.access import Principal, Role, authorize
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.persistence import campaigns as repo
    from chalicelib.services import campaigns
    from chalicelib.workflows import campaigns as sending

    marketing = Principal(sub="bench", username="bench", roles=frozenset({Role.ADMIN}), branch=None)
    made = campaigns.create(authorize(marketing, "campaigns.create"), CampaignCreate.model_validate({
        "name": "Bench", "channel": "sms", "purpose": "promotion", "audience": {},
        "messages": {"id": "Halo {first_name}, servis hemat di {branch_name}.", "en": "Hi {first_name}."}},
        strict=False).to_domain())
    repo.save(rules.transition(made, "scheduled", iso(utcnow())), expected_version=made.version)
    state: dict[str, Any] = {"campaign_id": made.id, "function": "relasi-dev-campaign-sender",
                             "send_at": iso(utcnow()), "phase": "start", "source": 0, "cursor": None}
    largest = len(json.dumps(state))
    counter = _Counter()
    with counter.installed():
        say("fixing the audience (the sender's snapshot steps)")
        steps = 0
        clock = time.perf_counter()
        with counter.capture() as snapshot:
            while state["phase"] != "send":
                state = sending.step(state, deadline_s=0)  # one page a call: the snapshot's steps only
                largest, steps = max(largest, len(json.dumps(state))), steps + 1
        snapshot_seconds = time.perf_counter() - clock
        matched, _ = repo.counts(made.id, consistent=True)
        say(f"sending {sample} messages")
        sent_count = Count()
        clock = time.perf_counter()
        while True:
            with counter.capture() as one_step:
                state = sending.step(state)  # the deployed step: up to CAMPAIGN_STEP_SECONDS
            sent_count.requests.update(one_step.requests)
            sent_count.items_read += one_step.items_read
            sent_count.items_written += one_step.items_written
            largest = max(largest, len(json.dumps(state)))
            counts, _ = repo.counts(made.id, consistent=True)  # the bench's own look: not counted
            if counts.get("sent", 0) >= sample or state["next"] in ("done", "stop"):
                break
        send_seconds = time.perf_counter() - clock
    handled = counts.get("sent", 0) + counts.get("capped", 0) + counts.get("withdrawn", 0)
    return CampaignBench(customers=customers, matched=matched.get("matched", 0), snapshot=snapshot,
                         snapshot_seconds=snapshot_seconds, snapshot_steps=steps, sent=counts.get("sent", 0),
                         sample_rows=handled, sending=sent_count, send_seconds=send_seconds,
                         largest_state_bytes=largest, load_seconds=0.0)


def requests_line(count: Count) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(count.requests.items()) if n)
