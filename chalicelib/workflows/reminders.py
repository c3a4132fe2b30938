"""The daily reminders job (`daily-reminders` in app.py) and the state machine that sends (reminders.asl.json).

`run(day, fired_at)`:

1. finds the day's reminders through two sparse indexes, one Query page at a
   time, never a Scan: `birthdays` (BDAY#MM-DD; on 28 February of a common
   year BDAY#02-29 too) and `due_by_date` (DUE#<date> for the due dates
   REMINDER_OFFSETS_DAYS ahead). Each index item holds what the decision needs
   (a profile; a due item with its copy of the contact data), so the job reads
   one item per reminder, plus the entries of the STOP list it finds
   (BatchGetItem, 100 numbers a request). `RunReport` counts both;
2. decides each reminder (chalicelib/domain/reminders.py: consent for
   greetings, the STOP list for everything, the preferred channel) and records
   the decision once per (customer, reminder, day): the claim and the outbound
   timeline entry in one transaction (persistence/messages.claim_entry),
   `delivery` "pending" (with the address, subject and SMS type the state
   machine sends with) or "skipped" with its `reason`. A second run of the day
   finds the claims (it looks them up, 100 a request, before claiming) and
   records nothing new. Claims are written one after the other: about 10 ms
   each in AWS, so 20,000 birthdays take minutes of the function's 15;
   concurrent claims would be faster, but moto's transactions are not
   thread-safe (a cancelled one restores a copy of the whole table);
3. starts the state machine for the messages to send, REMINDERS_PER_EXECUTION
   per execution, each named `reminders-<day>-<n>-<hash of its keys>`: a
   re-run or a double fire builds the same executions and starts none of them
   twice (ExecutionAlreadyExists is done). A message claimed by an earlier run
   of the day is handed over again (its run may have died before starting
   its execution); the state machine sends only what is still "pending".

The execution input holds keys only (table, interaction pk/sk, the sender
identity, when to start): no phone, email or text. The state machine reads
each message's address and text from its timeline entry when it sends it;
Step Functions does record those in the send task's history events.

Timing: the first execution waits until `send_after` (at once, or 08:00
local when the run fired in the quiet hours; a run triggered now "as if" at
another time waits what that run would have waited: rules.sending_starts);
execution n starts n
throughput slots later (REMINDERS_PER_EXECUTION messages at 20 a second,
10 s), so the day's executions take turns instead of all sending at once
(the Map sends 20 at a time, each item at least REMINDERS_PACE_SECONDS long).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import (
    REMINDERS_PACE_SECONDS,
    REMINDERS_PER_EXECUTION,
    REMINDERS_SEND_CONCURRENCY,
    settings,
)
from chalicelib.domain import reminders as rules
from chalicelib.domain.clock import iso, parse_iso, utcnow
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.interactions import Interaction
from chalicelib.domain.reminders import Reminder, ReminderKind

ASL_FILE = Path(__file__).with_name("reminders.asl.json")
_EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def slot_seconds(per_execution: int) -> int:
    """How long one full execution takes at the least: its messages, 20 at a time, each pace seconds long."""
    return math.ceil(per_execution / REMINDERS_SEND_CONCURRENCY) * REMINDERS_PACE_SECONDS


def execution_name(day: date, index: int, keys: list[dict[str, str]]) -> str:
    """Same day, same position, same messages: same name (Step Functions starts a name once in 90 days)."""
    digest = hashlib.sha256("\n".join(f"{k['pk']}|{k['sk']}" for k in keys).encode()).hexdigest()[:16]
    name = f"reminders-{day.isoformat()}-{index:04d}-{digest}"
    assert _EXECUTION_NAME.fullmatch(name), name
    return name


def execution_input(keys: list[dict[str, str]], *, send_after: datetime, table: str, sender: str,
                    day: date) -> dict[str, Any]:
    """The state machine's input: keys and settings only, no customer data."""
    return {
        "day": day.isoformat(),
        "table": table,
        "sender": sender,
        "send_after": iso(send_after),
        "pace_seconds": REMINDERS_PACE_SECONDS,
        "items": keys,
    }


@dataclass
class RunReport:
    """What one run found, decided and started (counts only: no customer data)."""

    day: str
    send_after: str
    reminders_due: int = 0  # (customer, reminder) pairs found for the day
    pending: int = 0  # decided now: to be sent
    skipped: int = 0  # decided now: not sent (the reason is on the timeline)
    already_decided: int = 0  # decided by an earlier run of the day
    gone: int = 0  # customers erased between the index read and the decision
    items_read: int = 0  # DynamoDB items read: index items + STOP-list entries + earlier claims found
    read_requests: int = 0  # Query and BatchGetItem requests
    skip_reasons: Counter[str] = field(default_factory=Counter)
    executions: list[str] = field(default_factory=list)  # names, started now or before

    @property
    def items_read_per_reminder(self) -> float:
        return self.items_read / self.reminders_due if self.reminders_due else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day, "send_after": self.send_after, "reminders_due": self.reminders_due,
            "pending": self.pending, "skipped": self.skipped, "already_decided": self.already_decided,
            "gone": self.gone,
            "items_read": self.items_read, "read_requests": self.read_requests,
            "skip_reasons": dict(self.skip_reasons), "executions": len(self.executions),
        }


@dataclass
class _Decision:
    reminder: Reminder
    record: Interaction
    send: dict[str, str] | None  # set when the message is to be sent


class _Executions:
    """Collects the keys of the messages to send and starts an execution per REMINDERS_PER_EXECUTION."""

    def __init__(self, day: date, send_after: datetime, report: RunReport, start: Callable[[str, dict[str, Any]], str]):
        s = settings()
        self.day, self.send_after, self.report, self.start = day, send_after, report, start
        self.table, self.sender = s.table_name, s.sender_email
        self.keys: list[dict[str, str]] = []
        self.per_execution = REMINDERS_PER_EXECUTION

    def add(self, key: dict[str, str]) -> None:
        self.keys.append(key)
        if len(self.keys) >= self.per_execution:
            self.flush()

    def flush(self) -> None:
        if not self.keys:
            return
        index = len(self.report.executions)
        name = execution_name(self.day, index, self.keys)
        delay = timedelta(seconds=index * slot_seconds(self.per_execution))
        payload = execution_input(self.keys, send_after=self.send_after + delay,
                                  table=self.table, sender=self.sender, day=self.day)
        arn = self.start(name, payload)
        self.report.executions.append(arn.rsplit(":", 1)[-1])  # the batch's name, or its later attempt's
        self.keys = []


def _decide(reminder: Reminder, contact: rules.Reachable, language: str, branch: str | None,
            stop_list: dict[str, bool]) -> _Decision:
    route = rules.decide(reminder, contact, sms_opted_out=stop_list.get(contact.phone, False))
    text = rules.message(reminder, language, route.channel)
    record = Interaction.outbound_message(
        customer_id=reminder.customer_id, branch_id=branch, channel=route.channel or contact.preferred_channel,
        kind="other", text=text.text, ref=reminder.ref, delivery="pending" if route.channel else "skipped",
        reason=route.skip_reason,
    )
    send = None
    if route.channel == "sms":
        send = {"address": route.address or "", "sms_type": rules.SMS_TYPES[reminder.purpose]}
    elif route.channel == "email":
        send = {"address": route.address or "", "subject": text.subject}
    return _Decision(reminder, record, send)


# (reminder, how to reach the customer, their language, their branch)
Found = tuple[Reminder, rules.Reachable, str, str | None]


def _record(found: list[Found], report: RunReport, executions: _Executions,
            stop_list: dict[str, bool]) -> None:
    """Decide and record one page of reminders; hand the ones to send to the executions."""
    from chalicelib.persistence import consent, messages
    if not found:
        return
    report.reminders_due += len(found)
    # The STOP list, for the numbers an SMS may go to; each number once per run.
    phones = {contact.phone for _, contact, _, _ in found if contact.preferred_channel != "email"} - set(stop_list)
    if phones:
        found_on_list, requests = consent.sms_opted_out_among(phones)
        report.items_read += len(found_on_list)
        report.read_requests += requests
        stop_list.update({phone: phone in found_on_list for phone in phones})
    # Claimed by an earlier run of the day: look first (a taken claim would cost a cancelled transaction).
    earlier, requests = messages.claimed_entries((reminder.customer_id, reminder.key) for reminder, _, _, _ in found)
    report.items_read += len(earlier)
    report.read_requests += requests
    for reminder, contact, language, branch in found:
        decision = _decide(reminder, contact, language, branch, stop_list)
        if reminder.key in earlier:
            claimed, entry = False, earlier.get(reminder.key)
        else:
            try:
                claimed, entry = messages.claim_entry(reminder.key, decision.record, send=decision.send)
            except NotFound:
                report.gone += 1  # erased since the index was read: nothing is sent or written
                continue
        if claimed:
            if decision.send is None:
                report.skipped += 1
                report.skip_reasons[decision.record.reason or "?"] += 1
            else:
                report.pending += 1
        else:
            report.already_decided += 1
        if decision.send is not None and entry:
            executions.add(entry)


def run(day: date, fired_at: datetime, *, now: datetime | None = None,
        start: Callable[[str, dict[str, Any]], str] | None = None) -> RunReport:
    """Find, decide and record the reminders of `day` (the deployment's calendar), then start their sending.

    `fired_at` is the schedule's time (the quiet hours are judged at it); `now`
    (default: the clock) is when the waiting starts (rules.sending_starts).
    """
    from chalicelib.persistence import reminders as repo

    zone = ZoneInfo(settings().timezone)
    begin = rules.sending_starts(fired_at, now or utcnow(), zone)
    report = RunReport(day=day.isoformat(), send_after=iso(begin))
    executions = _Executions(day, begin, report, start or start_execution)
    stop_list: dict[str, bool] = {}
    for month_day in rules.birthday_month_days(day):
        for born in repo.birthday_pages(month_day):
            report.items_read += born.read
            report.read_requests += 1
            greetings: list[Found] = [
                (Reminder(ReminderKind.BIRTHDAY, customer.id, day), customer, customer.language, customer.branch_id)
                for customer in born.found
                if customer.birthday and rules.greeted_on(customer.birthday, day)
            ]
            _record(greetings, report, executions, stop_list)
    for due_date in rules.due_dates(day):
        for falling_due in repo.due_pages(due_date.isoformat()):
            report.items_read += falling_due.read
            report.read_requests += 1
            dues: list[Found] = [
                (Reminder(ReminderKind.DUE, item.customer_id, day, item), contact, contact.language, contact.branch_id)
                for item, contact in falling_due.found
            ]
            _record(dues, report, executions, stop_list)
    executions.flush()
    return report


# --------------------------------------------------------------------------
# Starting executions
# --------------------------------------------------------------------------


REMINDER_ATTEMPTS = 5  # executions of one batch a day: the first, and a new one after each that failed or was stopped


def start_execution(name: str, payload: dict[str, Any]) -> str:
    """Start the batch's execution of the reminders state machine once; returns its ARN.

    A re-run of the day (or a double fire) finds the execution of that name:
    running or succeeded, it is left alone. One that failed, was stopped or
    timed out left its untaken messages "pending": the batch gets a new execution
    (`<name>-a2`, -a3, ...), which sends only what is still pending (it takes each
    message pending -> sending with a conditional write), so nothing goes twice.
    A message taken ("sending") by an execution that died is never sent again:
    whether it went out is unknown (docs/operations.md)."""
    from chalicelib.workflows.executions import ENDED_UNFINISHED, start_or_find, status_of

    state_machine = settings().reminder_state_machine_arn
    if not state_machine:
        raise RuntimeError("REMINDER_STATE_MACHINE_ARN is not set")
    for attempt in range(1, REMINDER_ATTEMPTS + 1):
        arn, started = start_or_find(state_machine, name if attempt == 1 else f"{name}-a{attempt}", payload)
        if started or status_of(arn) not in ENDED_UNFINISHED:
            return arn
    return arn  # every attempt of the day ended unfinished: left to an operator (docs/operations.md)


# --------------------------------------------------------------------------
# Entry points: the schedule, and profile changes from the table's stream
# --------------------------------------------------------------------------


def fired(event_time: str) -> tuple[date, datetime]:
    """The local day and the UTC instant of a schedule event's `time` (e.g. 2026-11-23T01:00:00Z)."""
    moment = parse_iso(event_time)
    return moment.astimezone(ZoneInfo(settings().timezone)).date(), moment


def on_schedule(event_time: str) -> dict[str, Any]:
    """The `daily-reminders` schedule: the reminders of the local day the event fired on."""
    from chalicelib.observability import count, flush, logger

    day, fired_at = fired(event_time)
    report = run(day, fired_at)
    summary = report.to_dict()
    logger().info("daily reminders", extra=summary)  # counts only
    for metric, value in (("RemindersDue", report.reminders_due), ("RemindersPending", report.pending),
                          ("RemindersSkipped", report.skipped), ("RemindersItemsRead", report.items_read)):
        count(metric, value)
    flush()
    return summary


def customer_changed(old: Customer | None, new: Customer | None) -> int:
    """A profile changed (stream record): refresh the contact data its due items keep. Returns items updated."""
    from chalicelib.persistence import reminders as repo

    if old is None or new is None or not rules.contact_changed(old, new):
        return 0  # a new profile has no due items yet; an erased one has none left; or the copy is still right
    return repo.refresh_contact(rules.contact_of(new))
