"""`make trigger JOB=<name> DATE=YYYY-MM-DD`: fire a scheduled job of a running local stack now, for a chosen date.

The job runs in the stack's process (infra/scheduler.py) as if EventBridge had
fired it at its scheduled time on that date: the event's `time` is the cron's
time of day on DATE (UTC, as the cron says; 00:00 UTC for a rate job). Time
travel for demos, support and tests. The daily analytics export
(`analytics-export`, 02:00 Asia/Jakarta = 19:00 UTC the day before) exports
the local day before its event: its event time on DATE is 19:00 UTC of DATE,
02:00 WIB of DATE + 1, so `make trigger JOB=analytics-export DATE=D` exports D. Talks to the stack's moto port
(RELASI_AWS_PORT, default 4566): `POST /_relasi/trigger`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import EXPORT_EARLIEST_DATE
from infra import ports
from infra.scheduler import PATH

DEFAULT_TIMEZONE = "Asia/Jakarta"
TIMEOUT_S = 600.0  # a job runs synchronously; the answer waits for it
SUMMARY_RESULT_CHARS = 300
DID_NOTHING = ("skipped", "refused")  # a job's result status that exits 1 (e.g. the day is being exported)


def today(timezone: str | None = None) -> date:
    """Today in the deployment's time zone (TIMEZONE, default Asia/Jakarta)."""
    return datetime.now(ZoneInfo(timezone or os.environ.get("TIMEZONE") or DEFAULT_TIMEZONE)).date()


class TriggerError(Exception):
    """The stack is not there, or answered with an error; `str()` says what to do."""

    def __init__(self, message: str, answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.answer = answer or {}


def _call(aws_port: int, method: str, body: dict[str, Any] | None, timeout_s: float) -> dict[str, Any]:
    url = f"http://127.0.0.1:{aws_port}{PATH}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - loopback only
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            answer: dict[str, Any] = json.load(response)
            return answer
    except urllib.error.HTTPError as exc:
        try:
            answer = json.load(exc)
        except ValueError:
            answer = {}
        if not isinstance(answer, dict) or "error" not in answer:
            raise TriggerError(f"127.0.0.1:{aws_port} answers {PATH} with HTTP {exc.code}: is it the moto of a "
                               "current `make run`?") from None
        raise TriggerError(str(answer["error"]), answer) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TriggerError(f"no local stack answers on 127.0.0.1:{aws_port} ({reason}); start it with `make run` "
                           "or set RELASI_AWS_PORT") from None


def trigger(job: str, day: date | str, aws_port: int | None = None, *, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Fire `job` for `day` on the local stack at `aws_port`; returns {"job", "date", "fired_at", "result"}.

    Raises TriggerError (unknown job: its `answer["known_jobs"]`; the stack not running; the job raised).
    """
    port = ports.aws_port() if aws_port is None else aws_port
    return _call(port, "POST", {"job": job, "date": str(day)}, timeout_s)


def jobs(aws_port: int | None = None, *, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The scheduled jobs of the local stack at `aws_port`: name, schedule, handler, next_fire."""
    port = ports.aws_port() if aws_port is None else aws_port
    found: list[dict[str, Any]] = _call(port, "GET", None, timeout_s)["jobs"]
    return found


def summary(answer: dict[str, Any]) -> str:
    result = json.dumps(answer.get("result"), ensure_ascii=False, separators=(",", ":"))
    if len(result) > SUMMARY_RESULT_CHARS:
        result = result[:SUMMARY_RESULT_CHARS] + "..."
    return f"{answer['job']} fired for {answer['date']} (event time {answer['fired_at']}): {result}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make trigger",
        description=(
            "Fire a scheduled job (an @app.schedule handler, e.g. daily-reminders) of a running local stack "
            "(`make run`) now, as if it had fired at its scheduled time on DATE: the scheduled event's `time` is "
            "the cron's time of day on DATE in UTC (00:00 UTC for a rate() job). Waits for the job and prints one "
            "line: job, date, event time, and what the handler returned (JSON). Exits 1 if the stack is not "
            "running, the job is unknown (the known ones are listed), the job raised, or it did nothing (its "
            "result's status is skipped or refused, e.g. analytics-export of a day being exported, or of a day "
            f"before {EXPORT_EARLIEST_DATE} or after today); 2 if JOB or DATE is missing or malformed (an empty JOB lists the "
            "jobs). analytics-export "
            "(02:00 Asia/Jakarta = 19:00 UTC of the day before) exports the local day before its event: its "
            "event time on DATE is 19:00 UTC of DATE = 02:00 WIB of DATE+1, so it exports DATE itself."
        ),
        epilog=(
            f"Usage from make: make trigger JOB=<name> DATE=YYYY-MM-DD (make itself exits 2 whenever this exits "
            f"non-zero). Environment: RELASI_AWS_PORT (default "
            f"4566), the port `make run` serves moto on; TIMEZONE (default {DEFAULT_TIMEZONE}) for today's date. "
            f"The stack serves the same as JSON: POST http://127.0.0.1:$RELASI_AWS_PORT{PATH} "
            '{"job": ..., "date": ...} (GET lists the jobs); from Python: infra.trigger.trigger(job, date, port).'
        ),
    )
    parser.add_argument("job", nargs="?", default="", help="the job's name (@app.schedule(name=...)), e.g. "
                        "daily-reminders; empty: list the jobs (and exit 2)")
    parser.add_argument("date", nargs="?", default="", help="YYYY-MM-DD (default: today in TIMEZONE)")
    parser.add_argument("--aws-port", type=int, default=ports.aws_port(), help="moto's port (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the stack's whole answer as JSON instead")
    args = parser.parse_args(argv)

    if not args.job:
        try:
            known = jobs(args.aws_port)
        except TriggerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("error: say which job: make trigger JOB=<name> [DATE=YYYY-MM-DD]; jobs: "
              + (", ".join(f"{j['name']} ({j['schedule']})" for j in known) or "(none: app.py has no "
                 "@app.schedule)"), file=sys.stderr)
        return 2
    day_text = args.date or today().isoformat()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day_text):
        print(f"error: DATE must be YYYY-MM-DD, not {day_text!r}", file=sys.stderr)
        return 2
    try:
        date.fromisoformat(day_text)
    except ValueError:
        print(f"error: {day_text!r} is not a date", file=sys.stderr)
        return 2
    try:
        answer = trigger(args.job, day_text, args.aws_port)
    except TriggerError as exc:
        if "known_jobs" in exc.answer:
            known_text = ", ".join(exc.answer["known_jobs"]) or "(none: app.py has no @app.schedule)"
            print(f"error: the local stack has no job named {args.job!r}; known jobs: {known_text}", file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, ensure_ascii=False, indent=2) if args.json else summary(answer))
    result = answer.get("result")
    if isinstance(result, dict) and result.get("status") in DID_NOTHING:
        print(f"error: {args.job} did nothing for {day_text}: {result.get('reason') or result['status']}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
