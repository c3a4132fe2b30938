"""The local scheduler (infra/scheduler.py) and `make trigger` (infra/trigger.py).

Schedule parsing and next firings on hand-made cases; `fire()` and the
scheduler thread on a small Chalice app of this module (a fake clock, no
sleeping for a minute); the trigger route's answers; and, over a real local
stack process, `python -m infra.trigger` as `make trigger` runs it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from chalice import Chalice, Cron, Rate

from infra import scheduler as sched
from infra.scheduler import CronSchedule, RateSchedule, Scheduler, UnknownJob, handle, jobs_from_app, parse_schedule
from tests.stack_process import ROOT, RunningStack, free_port, start_stack, stop_stack_cleanly


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def firings(expression: str, after: str, n: int = 4) -> list[str]:
    schedule = parse_schedule(expression)
    moment: datetime | None = at(after)
    found = []
    for _ in range(n):
        assert moment is not None
        moment = schedule.next_after(moment, anchor=at(after))
        assert moment is not None
        found.append(moment.strftime("%a %Y-%m-%d %H:%M"))
    return found


# --- expressions -------------------------------------------------------------


@pytest.mark.parametrize(("expression", "after", "expected"), [
    # daily at 01:00 UTC (08:00 in Jakarta): strictly after, so 01:00 itself gives the next day
    ("cron(0 1 * * ? *)", "2026-03-10 00:59", ["Tue 2026-03-10 01:00", "Wed 2026-03-11 01:00"]),
    ("cron(0 1 * * ? *)", "2026-03-10 01:00", ["Wed 2026-03-11 01:00", "Thu 2026-03-12 01:00"]),
    ("cron(0 1 * * ? *)", "2026-12-31 02:00", ["Fri 2027-01-01 01:00", "Sat 2027-01-02 01:00"]),
    # lists, ranges, steps, names; weekdays only (1 = SUN)
    ("cron(0/20 9,17 ? * MON-FRI *)", "2026-03-13 16:50",
     ["Fri 2026-03-13 17:00", "Fri 2026-03-13 17:20", "Fri 2026-03-13 17:40", "Mon 2026-03-16 09:00"]),
    ("cron(15 8 ? * 2-6 *)", "2026-03-14 00:00", ["Mon 2026-03-16 08:15", "Tue 2026-03-17 08:15"]),
    ("cron(*/30 */12 ? * SUN *)", "2026-03-14 00:00",
     ["Sun 2026-03-15 00:00", "Sun 2026-03-15 00:30", "Sun 2026-03-15 12:00", "Sun 2026-03-15 12:30"]),
    ("cron(0 0 ? * FRI-MON *)", "2026-03-10 00:00",  # a range that wraps around the week
     ["Fri 2026-03-13 00:00", "Sat 2026-03-14 00:00", "Sun 2026-03-15 00:00", "Mon 2026-03-16 00:00"]),
    ("cron(0 12 1,15 JAN,JUL ? *)", "2026-01-20 00:00",
     ["Wed 2026-07-01 12:00", "Wed 2026-07-15 12:00", "Fri 2027-01-01 12:00", "Fri 2027-01-15 12:00"]),
    # L, W, # and nL
    ("cron(0 10 L * ? *)", "2026-02-01 00:00",
     ["Sat 2026-02-28 10:00", "Tue 2026-03-31 10:00", "Thu 2026-04-30 10:00", "Sun 2026-05-31 10:00"]),
    ("cron(0 10 L 2 ? *)", "2027-03-01 00:00", ["Tue 2028-02-29 10:00", "Wed 2029-02-28 10:00"]),
    ("cron(0 10 1W * ? *)", "2026-02-01 00:00",  # 1 Feb and 1 Mar 2026 are Sundays
     ["Mon 2026-02-02 10:00", "Mon 2026-03-02 10:00", "Wed 2026-04-01 10:00", "Fri 2026-05-01 10:00"]),
    ("cron(0 10 LW * ? *)", "2026-05-01 00:00", ["Fri 2026-05-29 10:00", "Tue 2026-06-30 10:00"]),
    ("cron(0 10 ? * 6#3 *)", "2026-02-01 00:00", ["Fri 2026-02-20 10:00", "Fri 2026-03-20 10:00"]),
    ("cron(0 10 ? * 6L *)", "2026-02-01 00:00", ["Fri 2026-02-27 10:00", "Fri 2026-03-27 10:00"]),
    # a year field
    ("cron(0 0 1 1 ? 2028-2029)", "2026-06-01 00:00", ["Sat 2028-01-01 00:00", "Mon 2029-01-01 00:00"]),
])
def test_cron_next_firings(expression: str, after: str, expected: list[str]) -> None:
    assert firings(expression, after, len(expected)) == expected


def test_cron_runs_out_after_its_last_year() -> None:
    assert parse_schedule("cron(0 0 1 1 ? 2027)").next_after(at("2027-01-01 00:00")) is None


@pytest.mark.parametrize(("expression", "after", "anchor", "expected"), [
    ("rate(1 minute)", "2026-03-10 00:00", "2026-03-10 00:00", "2026-03-10 00:01"),
    ("rate(5 minutes)", "2026-03-10 00:07:30", "2026-03-10 00:00", "2026-03-10 00:10"),
    ("rate(2 hours)", "2026-03-10 04:00", "2026-03-10 00:00", "2026-03-10 06:00"),
    ("rate(1 day)", "2026-03-09 12:00", "2026-03-10 00:00", "2026-03-11 00:00"),  # before the anchor
    ("rate(3 days)", "2026-03-10 00:00", "2026-03-10 00:00", "2026-03-13 00:00"),
])
def test_rate_next_firing_counts_from_the_anchor(expression: str, after: str, anchor: str, expected: str) -> None:
    assert parse_schedule(expression).next_after(at(after), anchor=at(anchor)) == at(expected)


def test_chalice_expression_objects_and_strings_parse_alike() -> None:
    cron = parse_schedule(Cron(0, 1, "*", "*", "?", "*"))
    assert isinstance(cron, CronSchedule) and cron.expression == "cron(0 1 * * ? *)"
    assert cron.time_on(date(2026, 3, 10)) == at("2026-03-10 01:00")
    rate = parse_schedule(Rate(1, unit=Rate.MINUTES))
    assert isinstance(rate, RateSchedule) and rate.period == timedelta(minutes=1)
    assert parse_schedule("rate(15 minutes)").expression == "rate(15 minutes)"
    assert parse_schedule("RATE(1 hours)").expression == "rate(1 hour)"


@pytest.mark.parametrize("expression", [
    "cron(0 1 * * * *)",  # day-of-month and day-of-week both given (EventBridge rejects it too)
    "cron(0 1 ? * ? *)",
    "cron(0 1 * *)",
    "cron(60 1 * * ? *)",
    "cron(0 24 * * ? *)",
    "cron(0 1 32 * ? *)",
    "cron(0 1 ? * 8 *)",
    "cron(0 1 * FOO ? *)",
    "cron(L 1 * * ? *)",
    "cron(0/0 1 * * ? *)",
    "cron(0 1 * * ? 1969)",
    "rate(0 minutes)",
    "rate(1 week)",
    "every day",
])
def test_bad_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(expression)


# --- jobs of a Chalice app ---------------------------------------------------------

demo_app = Chalice(app_name="scheduler-test")
calls: list[tuple[str, dict[str, Any], Any]] = []
tick_failures = threading.Event()
SECRET_PHONE = "+62812" + "99990000"  # built at run time: a stack trace shows source lines, not values


@demo_app.schedule(Cron(30, 1, "*", "*", "?", "*"), name="nightly")
def nightly(event):  # type: ignore[no-untyped-def]
    calls.append(("nightly", event.to_dict(), event.context))
    return {"time": event.time, "n": 1}


@demo_app.schedule(Rate(1, unit=Rate.MINUTES))
def tick(event):  # type: ignore[no-untyped-def]
    calls.append(("tick", event.to_dict(), event.context))
    if tick_failures.is_set():
        raise RuntimeError(f"customer {SECRET_PHONE} could not be reached")  # must not reach the logs
    return event.time


@demo_app.on_cw_event({"source": ["aws.ec2"]})
def not_a_schedule(event):  # type: ignore[no-untyped-def]
    return None


@pytest.fixture(autouse=True)
def clean_calls() -> Iterator[None]:
    calls.clear()
    tick_failures.clear()
    yield
    tick_failures.clear()


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def advance(self, **delta: float) -> None:
        with self.lock:
            self.now += timedelta(**delta)


def test_jobs_come_from_the_apps_schedules_only() -> None:
    jobs = {job.name: job for job in jobs_from_app(demo_app)}
    assert set(jobs) == {"nightly", "tick"}  # the function's name when @app.schedule has no name=
    assert jobs["nightly"].expression == "cron(30 1 * * ? *)"
    assert jobs["tick"].expression == "rate(1 minute)"
    assert jobs["nightly"].handler is nightly and jobs["nightly"].handler_string == "app.nightly"


def test_fire_runs_the_job_as_if_at_its_scheduled_time_on_that_date() -> None:
    s = Scheduler.for_app(demo_app, region="ap-southeast-3", account_id="123456789012", stage="dev")
    assert s.fire("nightly", date(2026, 3, 10)) == {"time": "2026-03-10T01:30:00Z", "n": 1}
    assert s.fire("tick", date(2024, 2, 29)) == "2024-02-29T00:00:00Z"  # a rate job: 00:00 UTC that day
    name, event, context = calls[0]
    assert name == "nightly"
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:ap-southeast-3:123456789012:rule/relasi-dev-nightly"]
    assert event["detail"] == {} and event["account"] == "123456789012" and event["region"] == "ap-southeast-3"
    assert context.function_name == "relasi-dev-nightly" and context.get_remaining_time_in_millis() > 0
    assert calls[1][1]["id"] != event["id"]
    with pytest.raises(UnknownJob) as raised:
        s.fire("weekly", date(2026, 3, 10))
    assert raised.value.known == ["nightly", "tick"] and "nightly, tick" in str(raised.value)


def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_the_thread_fires_a_rate_job_when_its_time_comes_and_survives_its_errors(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(at("2026-03-10 00:00:10"))
    s = Scheduler.for_app(demo_app, clock=clock, max_sleep_s=0.01).start()
    try:
        assert s.next_fire("tick") == at("2026-03-10 00:01:10")
        assert s.next_fire("nightly") == at("2026-03-10 01:30")
        time.sleep(0.1)
        assert calls == []  # nothing due yet
        clock.advance(seconds=59)
        time.sleep(0.1)
        assert calls == []
        clock.advance(seconds=1)
        wait_for(lambda: len(calls) == 1)
        assert calls[0][0] == "tick" and calls[0][1]["time"] == "2026-03-10T00:01:10Z"
        wait_for(lambda: s.next_fire("tick") == at("2026-03-10 00:02:10"))  # planned once the run is noted

        tick_failures.set()
        with caplog.at_level(logging.INFO, logger="relasi.scheduler"):
            clock.advance(minutes=1)
            wait_for(lambda: len(s.runs) == 2)
        assert not s.runs[-1].ok and s.runs[-1].error == "RuntimeError"
        assert "RuntimeError" in caplog.text and SECRET_PHONE[1:] not in caplog.text  # type and stack, no message

        tick_failures.clear()
        clock.advance(minutes=90)  # several ticks and the nightly job are due: one run each, the rest skipped
        wait_for(lambda: len(s.runs) == 4)
        time.sleep(0.1)
        assert [(r.job, r.scheduled_for, r.ok) for r in s.runs[2:]] == [
            ("tick", "2026-03-10T00:03:10Z", True), ("nightly", "2026-03-10T01:30:00Z", True)]
        assert s.running and s.next_fire("tick") == at("2026-03-10 01:33:10")
        assert s.next_fire("nightly") == at("2026-03-11 01:30")
    finally:
        s.stop()
    assert not s.running


# --- the trigger route (what the middleware answers) --------------------------------


def test_trigger_route_answers() -> None:
    s = Scheduler.for_app(demo_app)
    assert handle(None, "POST", b'{"job": "nightly", "date": "2026-03-10"}')[0] == 503
    status, answer = handle(s, "POST", b'{"job": "nightly", "date": "2026-03-10"}')
    assert status == 200 and answer == {"job": "nightly", "date": "2026-03-10", "fired_at": "2026-03-10T01:30:00Z",
                                        "result": {"time": "2026-03-10T01:30:00Z", "n": 1}}
    status, answer = handle(s, "POST", b'{"job": "weekly", "date": "2026-03-10"}')
    assert status == 404 and answer["known_jobs"] == ["nightly", "tick"] and "nightly, tick" in answer["error"]
    for bad in (b'{"job": "nightly", "date": "10/03/2026"}', b'{"job": "nightly", "date": "2026-02-30"}',
                b'{"job": "nightly"}', b"not json", b"[1]"):
        assert handle(s, "POST", bad)[0] == 400, bad
    tick_failures.set()
    status, answer = handle(s, "POST", b'{"job": "tick", "date": "2026-03-10"}')
    assert status == 500 and "RuntimeError" in answer["error"] and SECRET_PHONE[1:] not in str(answer)
    status, answer = handle(s, "GET", b"")
    assert status == 200 and [j["name"] for j in answer["jobs"]] == ["nightly", "tick"]
    assert handle(s, "DELETE", b"")[0] == 405


# --- `make trigger` against a running local stack ------------------------------------


def run_trigger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "infra.trigger", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_trigger_without_a_stack_says_so() -> None:
    done = run_trigger("daily-reminders", "2026-03-10", "--aws-port", str(free_port()))
    assert done.returncode == 1 and "no local stack answers" in done.stderr and "make run" in done.stderr
    done = run_trigger("daily-reminders", "10-03-2026", "--aws-port", str(free_port()))
    assert done.returncode == 2 and "YYYY-MM-DD" in done.stderr


@pytest.fixture(scope="module")
def running_stack() -> Iterator[RunningStack]:
    s = start_stack(SEED="none")
    yield s
    stop_stack_cleanly(s)


def test_trigger_an_unknown_job_lists_the_known_ones(running_stack: RunningStack) -> None:
    from infra.trigger import jobs

    known = [job["name"] for job in jobs(running_stack.aws_port)]
    done = run_trigger("no-such-job", "2026-03-10", env=running_stack.env)
    assert done.returncode == 1, done
    assert "no job named 'no-such-job'" in done.stderr and "known jobs" in done.stderr
    for name in known:
        assert name in done.stderr


def test_trigger_daily_reminders_for_a_date(running_stack: RunningStack) -> None:
    from infra.trigger import jobs

    listed = {job["name"]: job for job in jobs(running_stack.aws_port)}
    if "daily-reminders" not in listed:
        pytest.skip("app.py has no daily-reminders schedule yet")
    expected = sched.iso_z(parse_schedule(listed["daily-reminders"]["schedule"]).time_on(date(2026, 3, 10)))
    done = run_trigger("daily-reminders", "2026-03-10", env=running_stack.env)
    assert done.returncode == 0, (done.stdout, done.stderr, running_stack.stderr_text()[-3000:])
    line = done.stdout.strip()
    assert "\n" not in line
    assert line.startswith(f"daily-reminders fired for 2026-03-10 (event time {expected}): "), line


# --- Lambda Invoke of the app's scheduled functions (what moto's port plays) ------------------


def call_wsgi_full(app: Any, method: str, path: str, body: bytes = b"", **headers: str
                   ) -> tuple[str, list[tuple[str, str]], bytes]:
    import io

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), **{f"HTTP_{k.upper()}": v for k, v in headers.items()}}
    status: list[tuple[str, list[tuple[str, str]]]] = []
    answer = b"".join(app(environ, lambda s, h: status.append((s, h))))
    return status[0][0], status[0][1], answer


def call_wsgi(app: Any, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, bytes]:
    status, _, answer = call_wsgi_full(app, method, path, body, **headers)
    return status, answer


def test_invoke_route_runs_the_job_for_an_asynchronous_invoke_and_passes_the_rest_on(
        caplog: pytest.LogCaptureFixture) -> None:
    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("404 Not Found", [])
        return [b"moto"]

    route = sched.TriggerRoute()
    app = sched.invoke_middleware(moto, route)
    path = "/2015-03-31/functions/{}/invocations"
    event = {"version": "0", "id": "1", "detail-type": "x", "source": "t", "account": "1", "time": "2026-03-10T05:00:00Z",
             "region": "r", "resources": [], "detail": {"date": "2026-03-09"}}
    assert call_wsgi(app, "POST", path.format("relasi-dev-tick"), b"{}", X_AMZ_INVOCATION_TYPE="Event")[1] == b"moto"
    route.standby = Scheduler.for_app(demo_app, stage="dev")  # registered, no clock thread
    for name in ("relasi-dev-tick", "arn:aws:lambda:ap-southeast-3:123456789012:function:relasi-dev-tick:$LATEST",
                 "123456789012:function:relasi-dev-tick"):
        calls.clear()
        status, body = call_wsgi(app, "POST", path.format(name), json.dumps(event).encode(),
                                 X_AMZ_INVOCATION_TYPE="Event")
        assert (status, body) == ("202 Accepted", b""), name
        wait_for(lambda: len(calls) == 1)
        assert calls[0][1] == event and calls[0][2].function_name == "relasi-dev-tick"
    wait_for(lambda: len(route.standby.runs) == 3)  # type: ignore[union-attr]
    assert [(r.job, r.trigger, r.ok, r.scheduled_for) for r in route.standby.runs][-1] == (  # type: ignore[union-attr]
        "tick", "invoke", True, "2026-03-10T05:00:00Z")
    # a synchronous call (a Step Functions lambda:invoke task) runs now and answers with what the handler returned
    calls.clear()
    status, body = call_wsgi(app, "POST", path.format("relasi-dev-tick"), json.dumps(event).encode(),
                             X_AMZ_INVOCATION_TYPE="RequestResponse")
    assert (status, json.loads(body)) == ("200 OK", "2026-03-10T05:00:00Z") and len(calls) == 1
    wait_for(lambda: len(route.standby.runs) == 4)  # type: ignore[union-attr]
    # not ours: another function, a dry run, another stage, another path
    for name, kind in (("relasi-dev-other", "Event"), ("relasi-dev-tick", "DryRun"), ("relasi-prod-tick", "Event")):
        assert call_wsgi(app, "POST", path.format(name), b"{}", X_AMZ_INVOCATION_TYPE=kind)[1] == b"moto"
    assert call_wsgi(app, "GET", "/2015-03-31/functions/relasi-dev-tick", X_AMZ_INVOCATION_TYPE="Event")[1] == b"moto"
    status, body = call_wsgi(app, "POST", path.format("relasi-dev-tick"), b"not json", X_AMZ_INVOCATION_TYPE="Event")
    assert status == "400 Bad Request" and b"json" in body
    # a job that raises: still 202 (Lambda has accepted it); logged by type and stack, never the message
    tick_failures.set()
    with caplog.at_level(logging.INFO, logger="relasi.scheduler"):
        assert call_wsgi(app, "POST", path.format("relasi-dev-tick"), json.dumps(event).encode(),
                         X_AMZ_INVOCATION_TYPE="Event")[0] == "202 Accepted"
        wait_for(lambda: len(route.standby.runs) == 5)  # type: ignore[union-attr]
    run = route.standby.runs[-1]  # type: ignore[union-attr]
    assert (run.trigger, run.ok, run.error) == ("invoke", False, "RuntimeError")
    # synchronously, Lambda's answer to a function error: 200, X-Amz-Function-Error, the type only
    status, headers, answer = call_wsgi_full(app, "POST", path.format("relasi-dev-tick"), json.dumps(event).encode(),
                                             X_AMZ_INVOCATION_TYPE="RequestResponse")
    assert status == "200 OK" and ("X-Amz-Function-Error", "Unhandled") in headers
    assert json.loads(answer) == {"errorType": "RuntimeError", "errorMessage": "RuntimeError"}
    assert SECRET_PHONE[1:] not in answer.decode()
    assert "RuntimeError" in caplog.text and SECRET_PHONE[1:] not in caplog.text
    # as in Lambda, Chalice's wrapper of a schedule handler needs an EventBridge-shaped event
    tick_failures.clear()
    assert call_wsgi(app, "POST", path.format("relasi-dev-tick"), b"", X_AMZ_INVOCATION_TYPE="Event")[0] == \
        "202 Accepted"
    wait_for(lambda: len(route.standby.runs) == 7)  # type: ignore[union-attr]
    assert route.standby.runs[-1].error == "KeyError"  # type: ignore[union-attr]


def test_trigger_of_an_export_the_job_refuses_exits_1_saying_so(running_stack: RunningStack) -> None:
    done = run_trigger("analytics-export", "2099-01-01", env=running_stack.env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert '"status":"refused"' in done.stdout and "did nothing for 2099-01-01: out_of_range" in done.stderr
    done = run_trigger("analytics-export", "0001-01-01", env=running_stack.env)  # no traceback on a far date
    assert done.returncode == 1 and "out_of_range" in done.stderr, (done.stdout, done.stderr)


def test_event_times_keep_four_digit_years() -> None:
    assert sched.iso_z(datetime(1, 1, 1, 19, 0, 5, 999, tzinfo=UTC)) == "0001-01-01T19:00:05Z"
    assert sched.iso_z(datetime(2026, 3, 10, 8, 30, tzinfo=ZoneInfo("Asia/Jakarta"))) == "2026-03-10T01:30:00Z"
