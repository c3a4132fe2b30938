"""The local scheduler: fires app.py's `@app.schedule` handlers, as EventBridge would in the cloud.

moto stores EventBridge rules but never fires them (docs: ../shared/DESIGN.md),
so the local stack runs a `Scheduler` thread in its own process:

- the jobs are what Chalice registered (`app.event_sources`, the
  `ScheduledEventConfig` entries): a name (the `name=` of `@app.schedule`,
  else the function's name), a schedule expression and the handler, called
  as Lambda calls it: `handler(event, context)`;
- `cron(minutes hours day-of-month month day-of-week year)` is read as
  EventBridge reads it, in UTC: `*`, `?`, numbers and names (JAN-DEC,
  SUN-SAT with 1 = SUN), lists, ranges, steps (`*/15`, `5/10`, `1-5/2`),
  `L` (last day of the month; `L-n`), `W` (`15W`, `LW`: nearest weekday), and
  for the day of the week `nL` (last such day of the month) and `n#k` (k-th such
  day); one of day-of-month and day-of-week must be `?`, as in the cloud.
  `rate(N minute|minutes|hour|hours|day|days)` fires every N units from the
  moment the scheduler started (the first time one period after it);
- at a job's due time the handler gets a scheduled event shaped like
  EventBridge's (`detail-type` "Scheduled Event", `source` "aws.events",
  `time` the scheduled time in ISO-8601 UTC with `Z`, `resources` the rule's
  ARN, `detail` {}) and a Lambda-like context (infra/pump.py). Jobs run one
  after the other in the scheduler's thread; due times missed while the
  machine slept are not made up for (one run, then the next time to come);
- a job that raises is logged (the exception's type and stack, never its
  message: it may carry customer data) and the thread goes on.

`fire(name, day)` runs a job now as if it had fired at its scheduled time on
that day: the cron's (first) time of day on that date, in UTC as the cron says,
or 00:00 UTC for a rate job. The local stack serves it on moto's port as
`POST /_relasi/trigger` (`middleware()`, used by `make trigger`, infra/trigger.py)
with the JSON body {"job": name, "date": "YYYY-MM-DD"}; `GET` lists the jobs.

moto runs no Lambda code either, so the app's own asynchronous invocations of
its scheduled functions (POST /analytics/exports invokes `analytics-export`
with InvocationType=Event) would go nowhere. `invoke_middleware()` answers the
Lambda Invoke call on moto's port (`POST /2015-03-31/functions/<name>/invocations`)
for a function named like one of the jobs (`Scheduler.function_name(job)`, e.g.
relasi-dev-analytics-export; a name, an ARN or a partial ARN, with or without a
qualifier). `X-Amz-Invocation-Type: Event`: 202 with an empty body, as Lambda
answers, and the job's handler runs with the payload as its event in a thread of
its own (`Scheduler.invoke`, recorded as a Run with trigger "invoke"; an exception
is logged by its type and stack only and not retried: Lambda would retry twice).
RequestResponse (what a Step Functions `lambda:invoke` task sends, e.g. the
campaign sender): the handler runs now and its result is the answer's JSON body;
an exception answers 200 with `X-Amz-Function-Error: Unhandled` and
`{"errorType", "errorMessage"}` (the type only: a message may carry customer
data), as Lambda does. Other invocations (another function, DryRun) go on to moto. The route works as soon as the jobs are registered (`ROUTE.standby`,
set by infra/local_stack.py prepare()), with or without the clock thread.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import importlib
import json
import logging
import os
import re
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.pump import FUNCTION_TIMEOUT_S, LambdaContext

logger = logging.getLogger("relasi.scheduler")

Handler = Callable[[dict[str, Any], Any], Any]
Clock = Callable[[], datetime]

PATH = "/_relasi/trigger"
MAX_SLEEP_S = 30.0  # the thread looks at the clock at least this often (a laptop may sleep in between)
DEFAULT_ACCOUNT = "123456789012"  # moto's
DEFAULT_REGION = "ap-southeast-3"
LAST_YEAR = 2199  # EventBridge's cron years run 1970-2199

_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
_WEEKDAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    """EventBridge's form of a time: `2026-03-10T01:00:00Z` (UTC, whole seconds)."""
    # isoformat, not strftime: strftime writes year 1 as "1", which no ISO 8601 parser reads
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


# --------------------------------------------------------------------------
# Schedule expressions
# --------------------------------------------------------------------------


def _aws_weekday(day: date) -> int:
    """1 = Sunday ... 7 = Saturday, as cron's day-of-week counts."""
    return (day.weekday() + 1) % 7 + 1


def _number(text: str, lo: int, hi: int, names: dict[str, int] | None, what: str) -> int:
    key = text.upper()
    if names and key in names:
        return names[key]
    if not text.isdigit():
        raise ValueError(f"{what}: {text!r} is not a number{' or a name' if names else ''}")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{what}: {value} is outside {lo}-{hi}")
    return value


def _values(item: str, lo: int, hi: int, names: dict[str, int] | None, what: str) -> set[int]:
    """One list item of a cron field: `*`, `n`, `a-b` (wrapping, e.g. FRI-MON), each optionally `/step`."""
    base, _, step_text = item.partition("/")
    step = 1
    if step_text:
        if not step_text.isdigit() or int(step_text) < 1:
            raise ValueError(f"{what}: bad step in {item!r}")
        step = int(step_text)
    if base == "*":
        start, end = lo, hi
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _number(first, lo, hi, names, what), _number(last, lo, hi, names, what)
    else:
        start = _number(base, lo, hi, names, what)
        end = hi if step_text else start  # `5/10`: from 5 on, every 10
    span = list(range(start, end + 1)) if start <= end else [*range(start, hi + 1), *range(lo, end + 1)]
    return set(span[::step])


def _field(text: str, lo: int, hi: int, what: str, names: dict[str, int] | None = None) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{what}: empty list item in {text!r}")
        found |= _values(item, lo, hi, names, what)
    return frozenset(found)


def _nearest_weekday(year: int, month: int, dom: int) -> int:
    """The day of the month of the weekday nearest to `dom`, without leaving the month (cron's `W`)."""
    last = calendar.monthrange(year, month)[1]
    dom = min(dom, last)
    weekday = date(year, month, dom).weekday()  # Monday 0 ... Sunday 6
    if weekday == 5:  # Saturday: the Friday before, or the Monday after on the 1st
        return dom - 1 if dom > 1 else dom + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before on the last day
        return dom + 1 if dom < last else dom - 2
    return dom


DayRule = Callable[[date], bool]


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _days_before_last(back: int, day: date) -> bool:
    return day.day == _last_day(day) - back


def _nearest_weekday_to(target: int, day: date) -> bool:
    return day.day == _nearest_weekday(day.year, day.month, target)


def _in_days(days: frozenset[int], day: date) -> bool:
    return day.day in days


def _in_weekdays(weekdays: frozenset[int], day: date) -> bool:
    return _aws_weekday(day) in weekdays


def _last_weekday_of_month(weekday: int, day: date) -> bool:
    return _aws_weekday(day) == weekday and day.day + 7 > _last_day(day)


def _nth_weekday_of_month(weekday: int, nth: int, day: date) -> bool:
    return _aws_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth


def _day_of_month_rules(text: str) -> list[DayRule]:
    rules: list[DayRule] = []
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            rules.append(functools.partial(_days_before_last, 0))
        elif upper.startswith("L-") and upper[2:].isdigit():
            rules.append(functools.partial(_days_before_last, _number(upper[2:], 0, 30, None, "day-of-month L-")))
        elif upper == "LW":
            rules.append(functools.partial(_nearest_weekday_to, 31))
        elif upper.endswith("W") and upper[:-1].isdigit():
            rules.append(functools.partial(_nearest_weekday_to, _number(upper[:-1], 1, 31, None, "day-of-month")))
        else:
            rules.append(functools.partial(_in_days, _field(item, 1, 31, "day-of-month")))
    return rules


def _day_of_week_rules(text: str) -> list[DayRule]:
    rules: list[DayRule] = []
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":  # alone: the last day of the week, Saturday
            rules.append(functools.partial(_in_weekdays, frozenset({7})))
        elif upper.endswith("L") and len(upper) > 1:
            weekday = _number(upper[:-1], 1, 7, _WEEKDAYS, "day-of-week")
            rules.append(functools.partial(_last_weekday_of_month, weekday))
        elif "#" in upper:
            day_text, _, nth_text = upper.partition("#")
            weekday = _number(day_text, 1, 7, _WEEKDAYS, "day-of-week")
            rules.append(functools.partial(_nth_weekday_of_month, weekday, _number(nth_text, 1, 5, None,
                                                                                  "day-of-week #")))
        else:
            rules.append(functools.partial(_in_weekdays, _field(item, 1, 7, "day-of-week", _WEEKDAYS)))
    return rules


@dataclass(frozen=True)
class CronSchedule:
    """An EventBridge `cron(...)` expression (UTC)."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day_rules: tuple[DayRule, ...] = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        match = re.fullmatch(r"\s*cron\((.*)\)\s*", text, re.IGNORECASE)
        body = match.group(1) if match else text
        parts = body.split()
        if len(parts) != 6:
            raise ValueError(f"{text!r}: a cron expression has 6 fields (minutes hours day-of-month month "
                             f"day-of-week year), this one has {len(parts)}")
        minutes, hours, dom, month, dow, year = parts
        if (dom == "?") == (dow == "?"):
            raise ValueError(f"{text!r}: exactly one of day-of-month and day-of-week must be '?'")
        try:
            rules = _day_of_month_rules(dom) if dom != "?" else _day_of_week_rules(dow)
            return cls(
                expression=f"cron({' '.join(parts)})",
                minutes=tuple(sorted(_field(minutes, 0, 59, "minutes"))),
                hours=tuple(sorted(_field(hours, 0, 23, "hours"))),
                months=_field(month, 1, 12, "month", _MONTHS),
                years=_field(year, 1970, LAST_YEAR, "year"),
                day_rules=tuple(rules),
            )
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    def matches_day(self, day: date) -> bool:
        return day.year in self.years and day.month in self.months and any(rule(day) for rule in self.day_rules)

    def time_on(self, day: date) -> datetime:
        """When the job fires on `day` (its first time that day); the cron's first time of day if it does not."""
        return datetime(day.year, day.month, day.day, self.hours[0], self.minutes[0], tzinfo=UTC)

    def next_after(self, after: datetime, *, anchor: datetime | None = None) -> datetime | None:
        """The first firing strictly after `after`; None if there is none (the year field has run out)."""
        after = after.astimezone(UTC)
        start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for year in range(start.year, LAST_YEAR + 1):
            if year not in self.years:
                continue
            for month in range(start.month if year == start.year else 1, 13):
                if month not in self.months:
                    continue
                first = start.day if (year, month) == (start.year, start.month) else 1
                for dom in range(first, calendar.monthrange(year, month)[1] + 1):
                    day = date(year, month, dom)
                    if not any(rule(day) for rule in self.day_rules):
                        continue
                    for hour in self.hours:
                        for minute in self.minutes:
                            moment = datetime(year, month, dom, hour, minute, tzinfo=UTC)
                            if moment >= start:
                                return moment
        return None


@dataclass(frozen=True)
class RateSchedule:
    """An EventBridge `rate(N unit)` expression: every `period`, counted from an anchor (when the scheduler started)."""

    expression: str
    period: timedelta

    @classmethod
    def parse(cls, text: str) -> RateSchedule:
        match = re.fullmatch(r"\s*rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)\s*", text, re.IGNORECASE)
        if not match:
            raise ValueError(f"{text!r}: a rate expression is rate(N minutes|hours|days)")
        value, unit = int(match.group(1)), match.group(2).lower().rstrip("s")
        if value < 1:
            raise ValueError(f"{text!r}: the rate must be at least 1")
        return cls(f"rate({value} {unit}{'' if value == 1 else 's'})", timedelta(**{unit + "s": value}))

    def time_on(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def next_after(self, after: datetime, *, anchor: datetime | None = None) -> datetime:
        """The first firing strictly after `after`: anchor + k * period (anchor defaults to `after`)."""
        base = after if anchor is None else anchor
        if after < base:
            return base + self.period
        periods = (after - base) // self.period + 1
        return base + periods * self.period


@dataclass(frozen=True)
class OnDemand:
    """No schedule: an operator's `@app.lambda_function` (e.g. stream-redrive), fired only by `make trigger`."""

    expression: str = "on demand"

    def time_on(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    def next_after(self, after: datetime, *, anchor: datetime | None = None) -> None:
        return None


Schedule = CronSchedule | RateSchedule | OnDemand


def parse_schedule(expression: Any) -> Schedule:
    """A Chalice `Cron`/`Rate` object or an expression string (`cron(...)`, `rate(...)`)."""
    text = expression.to_string() if hasattr(expression, "to_string") else str(expression)
    if text.strip().lower().startswith("rate("):
        return RateSchedule.parse(text)
    if text.strip().lower().startswith("cron("):
        return CronSchedule.parse(text)
    raise ValueError(f"{text!r}: a schedule expression is cron(...) or rate(...)")


# --------------------------------------------------------------------------
# Jobs and events
# --------------------------------------------------------------------------


@dataclass
class Job:
    name: str
    schedule: Schedule
    handler: Handler
    handler_string: str = ""

    @property
    def expression(self) -> str:
        return self.schedule.expression


def jobs_from_app(app: Any) -> list[Job]:
    """The `@app.schedule` handlers of a Chalice app, in registration order, then its `@app.lambda_function`s
    (operator commands: never fired by the clock, only by `fire`).

    Only scheduled event sources fire on a clock; `@app.on_cw_event` handlers
    (CloudWatchEventConfig, an event pattern) wait for events nobody sends locally.
    """
    from chalice.app import ScheduledEventConfig

    jobs: list[Job] = []
    for source in getattr(app, "event_sources", []):
        if not isinstance(source, ScheduledEventConfig):
            continue
        # The wrapped handler Chalice made: the very object the module attribute (what Lambda calls) holds.
        handler = getattr(app, "handler_map", {}).get(source.name)
        if handler is None:
            module_name, _, attribute = source.handler_string.rpartition(".")
            handler = getattr(importlib.import_module(module_name), attribute)
        jobs.append(Job(source.name, parse_schedule(source.schedule_expression), handler, source.handler_string))
    for function in getattr(app, "pure_lambda_functions", []):
        handler = getattr(app, "handler_map", {}).get(function.name, function)
        jobs.append(Job(function.name, OnDemand(), handler, function.handler_string))
    return jobs


@functools.lru_cache(maxsize=32)
def function_timeout_s(name: str, stage: str) -> float:
    """The function's Lambda timeout as Chalice resolves .chalice/config.json for `stage` (function, stage,
    global, then Chalice's default)."""
    from chalice.cli.factory import CLIFactory

    config = CLIFactory(str(Path(__file__).resolve().parent.parent)).create_config_obj(chalice_stage_name=stage)
    return float(config.scope(stage, name).lambda_timeout or FUNCTION_TIMEOUT_S)


class UnknownJob(KeyError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = sorted(known)

    def __str__(self) -> str:
        return f"no job named {self.name!r}; known jobs: {', '.join(self.known) or '(none)'}"


@dataclass
class Run:
    job: str
    scheduled_for: str  # the event's `time`
    trigger: str  # "schedule", "manual" (fire) or "invoke" (a Lambda Invoke of the app's function)
    ok: bool
    error: str | None  # the exception's type name
    duration_s: float


class Scheduler:
    """Fires `jobs` at their due times in a daemon thread (`start()`/`stop()`); `fire()` runs one now.

    `clock` (UTC-aware datetimes) and `max_sleep_s` are there for tests: with a
    fake clock and a short `max_sleep_s` the thread notices a jump in time at once.
    """

    def __init__(
        self,
        jobs: Iterable[Job],
        *,
        clock: Clock = utc_now,
        max_sleep_s: float = MAX_SLEEP_S,
        region: str | None = None,
        account_id: str | None = None,
        stage: str | None = None,
    ) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.clock = clock
        self.max_sleep_s = max_sleep_s
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        self.account_id = account_id or os.environ.get("MOTO_ACCOUNT_ID") or DEFAULT_ACCOUNT
        self.stage = stage or os.environ.get("STAGE", "dev")
        self.runs: list[Run] = []  # the last 100
        self._next: dict[str, datetime | None] = {}
        self._anchor: datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_app(cls, app: Any, **options: Any) -> Scheduler:
        return cls(jobs_from_app(app), **options)

    # ---------------------------------------------------------------- naming, as `chalice deploy` names things

    def function_name(self, job: str) -> str:
        return f"relasi-{self.stage}-{job}"

    def rule_arn(self, job: str) -> str:
        return f"arn:aws:events:{self.region}:{self.account_id}:rule/relasi-{self.stage}-{job}"

    def event(self, job: str, when: datetime) -> dict[str, Any]:
        """The event EventBridge hands a scheduled rule's target."""
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": iso_z(when),
            "region": self.region,
            "resources": [self.rule_arn(job)],
            "detail": {},
        }

    # ---------------------------------------------------------------- running jobs

    def job(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise UnknownJob(name, self.jobs) from None

    def fire_time(self, name: str, day: date) -> datetime:
        """When `name` fires on `day` (UTC): the cron's time of day, 00:00 for a rate job."""
        return self.job(name).schedule.time_on(day)

    def fire(self, name: str, day: date) -> Any:
        """Runs `name` now as if it had fired at its scheduled time on `day`; returns what the handler returned.

        The handler's exception, if any, is logged and raised again.
        """
        return self.fire_at(name, self.fire_time(name, day), trigger="manual")

    def fire_at(self, name: str, when: datetime, *, trigger: str = "manual") -> Any:
        return self._call(name, self.event(name, when), trigger)

    def _call(self, name: str, event: dict[str, Any], trigger: str) -> Any:
        """The job's handler on `event`, as Lambda calls it; notes the Run, logs an exception by type and raises it."""
        job = self.job(name)
        context = LambdaContext(self.function_name(name), self.region, self.account_id,
                                timeout_s=function_timeout_s(name, self.stage))
        moment = str(event.get("time", "-")) if isinstance(event, dict) else "-"
        started = time.monotonic()
        try:
            result = job.handler(event, context)
        except Exception as exc:
            elapsed = time.monotonic() - started
            # Type and stack only: an exception's message may carry customer data.
            logger.error("scheduled job %s (%s, for %s) raised %s:\n%s", name, trigger, moment,
                         type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
            self._note(Run(name, moment, trigger, False, type(exc).__name__, elapsed))  # logged first: runs wait on it
            raise
        elapsed = time.monotonic() - started
        self._note(Run(name, moment, trigger, True, None, elapsed))
        logger.info("scheduled job %s (%s, for %s) done in %.2f s", name, trigger, moment, elapsed)
        return result

    # ---------------------------------------------------------------- Lambda Invoke of the app's own functions

    def job_of_function(self, function: str) -> str | None:
        """The job whose Lambda function `function` names (a name, ARN or partial ARN, maybe with a qualifier)."""
        # arn:aws:lambda:<region>:<account>:function:<name> and <account>:function:<name>: the part after
        name = function.split(":function:", 1)[1] if ":function:" in function else function
        name = name.split(":", 1)[0]  # a version or alias qualifier
        return next((job for job in self.jobs if self.function_name(job) == name), None)

    def invoke(self, name: str, payload: Any) -> Any:
        """Runs `name`'s handler now with `payload` as its event (what Lambda Invoke does); raises what it raises."""
        return self._call(name, payload, "invoke")

    def invoke_async(self, name: str, payload: Any) -> threading.Thread:
        """`invoke` in a daemon thread of its own (InvocationType=Event); its exception is logged, not raised."""

        def run() -> None:
            with contextlib.suppress(Exception):  # logged by _call
                self.invoke(name, payload)

        thread = threading.Thread(target=run, name=f"relasi-invoke-{name}", daemon=True)
        thread.start()
        return thread

    def _note(self, run: Run) -> None:
        with self._lock:
            self.runs = [*self.runs[-99:], run]

    def next_fire(self, name: str) -> datetime | None:
        """When the thread fires `name` next (None: never, or not started)."""
        with self._lock:
            return self._next.get(name)

    def run_pending(self) -> int:
        """Fires every job that is due by the clock (once each, even if several due times passed); returns how many."""
        now = self.clock()
        with self._lock:
            if self._anchor is None:
                self._plan(now)
            due = [(name, when) for name, when in self._next.items() if when is not None and when <= now]
        for name, when in sorted(due, key=lambda item: item[1]):
            with contextlib.suppress(Exception):  # logged in fire_at; the scheduler goes on
                self.fire_at(name, when, trigger="schedule")
            schedule = self.jobs[name].schedule
            upcoming = schedule.next_after(when, anchor=self._anchor)
            later = self.clock()
            if upcoming is not None and upcoming <= later:
                logger.warning("scheduled job %s: due times up to %s passed while it ran or the machine slept; "
                               "skipped", name, iso_z(later))
                upcoming = schedule.next_after(later, anchor=self._anchor)
            with self._lock:
                self._next[name] = upcoming
        return len(due)

    def _plan(self, now: datetime) -> None:
        self._anchor = now
        for name, job in self.jobs.items():
            self._next[name] = job.schedule.next_after(now, anchor=now)

    # ---------------------------------------------------------------- the thread

    def start(self) -> Scheduler:
        if self._thread is not None:
            raise RuntimeError("the scheduler is running already")
        self._stop.clear()
        with self._lock:
            self._plan(self.clock())
        self._thread = threading.Thread(target=self._run, name="relasi-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ends the thread (after the job in hand, if one is running)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("scheduler still running a job after %.0f s; left behind (daemon thread)", timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # the scheduler must outlive any one failure
                logger.exception("scheduler cycle failed")
            with self._lock:
                upcoming = [when for when in self._next.values() if when is not None]
            wait = self.max_sleep_s
            if upcoming:
                wait = min(wait, max(0.0, (min(upcoming) - self.clock()).total_seconds()))
            self._stop.wait(wait)

    def describe(self) -> list[dict[str, Any]]:
        """The jobs, for `GET /_relasi/trigger`: name, schedule, handler, next firing (ISO Z or null)."""
        described = []
        for name, job in sorted(self.jobs.items()):
            when = self.next_fire(name)
            described.append({"name": name, "schedule": job.expression, "handler": job.handler_string,
                              "next_fire": iso_z(when) if when else None})
        return described


# --------------------------------------------------------------------------
# The trigger route, on moto's port
# --------------------------------------------------------------------------


class TriggerRoute:
    """Which scheduler `POST /_relasi/trigger` runs jobs with (None until the local stack has started it).

    `standby`: the app's jobs without the clock thread (infra/local_stack.py prepare()); Lambda invocations
    (`invoke_middleware`) use the running scheduler if there is one, else these.
    """

    def __init__(self) -> None:
        self.scheduler: Scheduler | None = None
        self.standby: Scheduler | None = None

    @property
    def invocable(self) -> Scheduler | None:
        return self.scheduler or self.standby


ROUTE = TriggerRoute()


def json_safe(value: Any) -> Any:
    """What the handler returned, as JSON would carry it (anything else as its str())."""
    return json.loads(json.dumps(value, default=str))


def handle(scheduler: Scheduler | None, method: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON answer) of the trigger route."""
    if scheduler is None:
        return 503, {"error": "the local stack has not started its scheduler yet"}
    if method in ("GET", "HEAD"):
        return 200, {"jobs": scheduler.describe()}
    if method != "POST":
        return 405, {"error": "POST {\"job\": name, \"date\": \"YYYY-MM-DD\"}, or GET for the list of jobs"}
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return 400, {"error": "the body is not JSON; send {\"job\": name, \"date\": \"YYYY-MM-DD\"}"}
    if not isinstance(request, dict):
        return 400, {"error": "send a JSON object {\"job\": name, \"date\": \"YYYY-MM-DD\"}"}
    name, day_text = request.get("job"), request.get("date")
    known = sorted(scheduler.jobs)
    if not isinstance(name, str) or name not in scheduler.jobs:
        return 404, {"error": str(UnknownJob(str(name), known)), "job": name, "known_jobs": known}
    if not isinstance(day_text, str) or not _DATE.match(day_text):
        return 400, {"error": f"date must be YYYY-MM-DD, not {day_text!r}", "job": name}
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        return 400, {"error": f"{day_text!r} is not a date", "job": name}
    fired_at = iso_z(scheduler.fire_time(name, day))
    try:
        result = scheduler.fire(name, day)
    except Exception as exc:  # logged by fire(); the type only here, too
        return 500, {"error": f"the job raised {type(exc).__name__} (the stack's log has its stack trace)",
                     "job": name, "date": day_text, "fired_at": fired_at}
    return 200, {"job": name, "date": day_text, "fired_at": fired_at, "result": json_safe(result)}


def middleware(app: Callable[..., Iterable[bytes]], route: TriggerRoute = ROUTE) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware for the moto server: answers PATH itself, passes everything else on."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        status, answer = handle(route.scheduler, method, body)
        raw = json.dumps(answer, ensure_ascii=False).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  500: "Internal Server Error", 503: "Service Unavailable"}[status]
        headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(raw))),
                   ("Cache-Control", "no-store")]
        if status == 405:
            headers.append(("Allow", "GET, POST"))
        start_response(f"{status} {reason}", headers)
        return [b""] if method == "HEAD" else [raw]

    return wrapped


# --------------------------------------------------------------------------
# Lambda Invoke of the app's scheduled functions, on moto's port
# --------------------------------------------------------------------------

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations/?$")


def invoke_target(route: TriggerRoute, method: str, path: str, invocation_type: str) -> tuple[Scheduler, str] | None:
    """(scheduler, job) when the request is an Invoke (Event or RequestResponse) of one of the app's jobs; None: not
    ours."""
    match = INVOKE_PATH.match(path)
    scheduler = route.invocable
    if method != "POST" or match is None or scheduler is None or invocation_type not in ("Event", "RequestResponse"):
        return None
    job = scheduler.job_of_function(urllib.parse.unquote(match.group("function")))
    return None if job is None else (scheduler, job)


def invoke_middleware(app: Callable[..., Iterable[bytes]], route: TriggerRoute = ROUTE
                      ) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware for the moto server: plays Lambda's Invoke of the app's jobs, passes on the rest."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = invoke_target(route, environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""),
                               environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse"))
        if target is None:
            return app(environ, start_response)
        scheduler, job = target
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        request_id = str(uuid.uuid4())
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            raw = json.dumps({"Type": "User", "message": "Could not parse request body into json"}).encode()
            start_response("400 Bad Request", [("Content-Type", "application/json"), ("Content-Length", str(len(raw))),
                                               ("x-amzn-RequestId", request_id),
                                               ("x-amzn-ErrorType", "InvalidRequestContentException")])
            return [raw]
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE", "RequestResponse") == "Event":
            scheduler.invoke_async(job, payload)
            start_response("202 Accepted", [("Content-Length", "0"), ("x-amzn-RequestId", request_id)])
            return [b""]
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id),
                   ("X-Amz-Executed-Version", "$LATEST")]
        try:
            raw = json.dumps(json_safe(scheduler.invoke(job, payload))).encode()
        except Exception as exc:  # logged by _call (type and stack only)
            raw = json.dumps({"errorType": type(exc).__name__, "errorMessage": type(exc).__name__}).encode()
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", [*headers, ("Content-Length", str(len(raw)))])
        return [raw]

    return wrapped
