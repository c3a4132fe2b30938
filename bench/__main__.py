"""`python -m bench` (`make bench`): measure, print, and write docs/performance.md."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from bench import PROJECT_DIR
from bench.reminders import DEFAULT_CUSTOMERS, DEFAULT_DAY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Relasi benchmarks: cold start of `app` against `import boto3, chalice`, the "
        "DynamoDB requests of every API operation on the local stack, and the items the daily reminder job "
        "reads per reminder due on a large table. Prints the report and writes it to docs/performance.md.",
    )
    parser.add_argument("--runs", type=int, default=15, metavar="N",
                        help="fresh processes per cold-start probe (default 15)")
    parser.add_argument("--seed", type=int, default=100, metavar="N",
                        help="demo customers to seed before counting requests (default 100)")
    parser.add_argument("--output", type=Path, default=PROJECT_DIR / "docs" / "performance.md", metavar="PATH",
                        help="where to write the report (default docs/performance.md)")
    parser.add_argument("--reminder-customers", type=int, default=DEFAULT_CUSTOMERS, metavar="N",
                        help=f"customers loaded for the reminder job (default {DEFAULT_CUSTOMERS}; "
                        "about 3 s per 1,000 in moto)")
    parser.add_argument("--reminder-date", type=date.fromisoformat, default=DEFAULT_DAY, metavar="YYYY-MM-DD",
                        help=f"the day the reminder job runs for (default {DEFAULT_DAY.isoformat()})")
    parser.add_argument("--skip-cold-start", action="store_true", help="skip the cold-start measurement")
    parser.add_argument("--skip-requests", action="store_true", help="skip the DynamoDB requests per operation")
    parser.add_argument("--skip-reminders", action="store_true", help="skip the reminder job's items read")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.reminder_customers < 1:
        parser.error("--reminder-customers must be at least 1")

    from bench import coldstart, dynamodb, reminders, report

    started = time.perf_counter()
    cold = None
    counts = None
    if not args.skip_cold_start:
        print(f"cold start: {args.runs} rounds of fresh processes", file=sys.stderr, flush=True)
        cold = coldstart.measure(args.runs)
    if not args.skip_requests:
        print("DynamoDB requests per operation", file=sys.stderr, flush=True)
        counts = dynamodb.measure(args.seed)
    reminder_run = None
    if not args.skip_reminders:
        print(f"daily reminder job on {args.reminder_customers} customers", file=sys.stderr, flush=True)
        reminder_run = reminders.measure(args.reminder_customers, args.reminder_date)
    text = report.document(cold, counts, time.perf_counter() - started, reminder_run)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
