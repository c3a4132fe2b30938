"""`python -m bench` (`make bench`): measure, print, and write docs/performance.md."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from bench import PROJECT_DIR
from bench.campaigns import DEFAULT_RECIPIENTS as CAMPAIGN_RECIPIENTS
from bench.campaigns import SEND_SAMPLE as CAMPAIGN_SAMPLE
from bench.export import DAY_FACTS
from bench.export import DEFAULT_CUSTOMERS as EXPORT_CUSTOMERS
from bench.export import DEFAULT_DAY as EXPORT_DAY
from bench.export import DEFAULT_RUNS as EXPORT_RUNS
from bench.export import DEFAULT_SIZES as EXPORT_SIZES
from bench.late import DEFAULT_ORDERS as LATE_ORDERS
from bench.reminders import DEFAULT_CUSTOMERS, DEFAULT_DAY


def _counts(text: str) -> tuple[int, ...]:
    """"100000,1000000" (underscores allowed) -> (100000, 1000000)."""
    try:
        values = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers of at least 1, got {text!r}")
    return values


def _put_section(output: Path, heading: str, section: list[str]) -> int:
    """One section measured again: replace it in the existing report (the others kept as they were), print it."""
    from bench import report

    text = report.with_section(output.read_text(encoding="utf-8") if output.exists() else "", heading, section)
    output.write_text(text, encoding="utf-8")
    print("\n".join(section))
    print(f"written to {output}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Relasi benchmarks: cold start of `app` against `import boto3, chalice`, the "
        "DynamoDB requests of every API operation on the local stack, the items the daily reminder job "
        "reads per reminder due on a large table, and the analytics export's throughput and peak memory "
        "against a plain paged read of the same table. Prints the report and writes it to docs/performance.md.",
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
    parser.add_argument("--skip-export", action="store_true", help="skip the analytics export's throughput and memory")
    parser.add_argument("--skip-late", action="store_true", help="skip the late-deliveries job's items read")
    parser.add_argument("--skip-campaigns", action="store_true", help="skip the campaign's reads and writes")
    parser.add_argument("--campaigns-only", action="store_true",
                        help="measure the campaign section only and put it into the existing report, keeping the "
                        "other sections as they were")
    parser.add_argument("--skip-facts-format", action="store_true",
                        help="skip the facts files' size and CPU, Parquet against gzipped JSON Lines")
    parser.add_argument("--facts-format-only", action="store_true",
                        help="measure the facts files section only (a few seconds, no AWS) and put it into the "
                        "existing report, keeping the other sections as they were")
    parser.add_argument("--requests-only", action="store_true",
                        help="measure the DynamoDB requests per API operation only and put them into the existing "
                        "report, keeping the other sections as they were")
    parser.add_argument("--nightly-only", action="store_true",
                        help="measure only the nightly run (no Scan) at --export-sizes (e.g. 1000000,5000000) and "
                             "replace its section of the output")
    parser.add_argument("--older-history", action="store_true",
                        help="with --nightly-only: each larger size adds its interactions before the smallest's, at "
                             "the same density (history grows older), instead of among them (customers grow busier)")
    parser.add_argument("--export-only", action="store_true",
                        help="measure the analytics export section only and put it into the existing report, keeping "
                        "the other sections as they were")
    parser.add_argument("--campaign-customers", type=int, default=CAMPAIGN_RECIPIENTS, metavar="N",
                        help=f"customers the campaign's audience holds (default {CAMPAIGN_RECIPIENTS}; about 5 s "
                        "per 1,000 in moto)")
    parser.add_argument("--campaign-sample", type=int, default=CAMPAIGN_SAMPLE, metavar="N",
                        help=f"messages sent for the per-message counts (default {CAMPAIGN_SAMPLE})")
    parser.add_argument("--late-orders", type=int, default=LATE_ORDERS, metavar="N",
                        help=f"orders loaded for the late-deliveries job (default {LATE_ORDERS}; about 15 s per "
                        "20,000 in moto)")
    parser.add_argument("--export-sizes", type=_counts, default=EXPORT_SIZES, metavar="N,N",
                        help="interactions in the table for each export measurement, smallest first (default "
                        + ",".join(str(n) for n in EXPORT_SIZES) + "; loading takes about 1.5 min per million)")
    parser.add_argument("--export-runs", type=_counts, default=EXPORT_RUNS, metavar="N,N",
                        help="floor and export runs per size, medians reported (default "
                        + ",".join(str(n) for n in EXPORT_RUNS) + "; one number applies to every size)")
    parser.add_argument("--export-customers", type=int, default=EXPORT_CUSTOMERS, metavar="N",
                        help=f"customers the interactions are spread over (default {EXPORT_CUSTOMERS})")
    parser.add_argument("--export-segments", type=int, default=None, metavar="N",
                        help="EXPORT_SCAN_SEGMENTS for the export and the floor (default: the app's setting)")
    parser.add_argument("--export-date", type=date.fromisoformat, default=EXPORT_DAY, metavar="YYYY-MM-DD",
                        help=f"the day exported (default {EXPORT_DAY.isoformat()})")
    parser.add_argument("--day-facts", type=int, default=DAY_FACTS, metavar="N",
                        help=f"interactions of the exported day itself, in its change log, for the day's facts "
                        f"export at each size of history (default {DAY_FACTS})")
    parser.add_argument("--export-profile", action="store_true",
                        help="cProfile one more export at the first size even if the ratio meets the target "
                        "(done anyway when it misses)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.reminder_customers < 1:
        parser.error("--reminder-customers must be at least 1")
    if list(args.export_sizes) != sorted(set(args.export_sizes)):
        parser.error("--export-sizes must grow (the table is topped up from one size to the next)")
    if len(args.export_runs) == 1:
        args.export_runs = args.export_runs * len(args.export_sizes)
    if len(args.export_runs) != len(args.export_sizes):
        parser.error("--export-runs needs one number, or one per size")
    if args.day_facts < 1:
        parser.error("--day-facts must be at least 1")
    if args.export_customers < 1 or (args.export_segments is not None and args.export_segments < 1):
        parser.error("--export-customers and --export-segments must be at least 1")

    from bench import campaigns, coldstart, dynamodb, export, facts_format, late, reminders, report

    started = time.perf_counter()
    if args.campaigns_only:
        print(f"a campaign to {args.campaign_customers} customers", file=sys.stderr, flush=True)
        run = campaigns.measure(args.campaign_customers, args.campaign_sample)
        return _put_section(args.output, report.CAMPAIGNS_HEADING, report.campaigns(run))
    if args.requests_only:
        print("DynamoDB requests per operation", file=sys.stderr, flush=True)
        return _put_section(args.output, report.REQUESTS_HEADING, report.requests(dynamodb.measure(args.seed)))
    if args.facts_format_only:
        return _put_section(args.output, report.FACTS_FORMAT_HEADING, report.facts_format(facts_format.measure()))
    if args.nightly_only:
        print(f"the nightly run at {', '.join(f'{n:,}' for n in args.export_sizes)} interactions",
              file=sys.stderr, flush=True)
        nightly_run = export.measure(tuple(args.export_sizes), tuple(args.export_runs), args.export_customers,
                                     args.export_date, segments=args.export_segments, day_facts=args.day_facts,
                                     nightly_only=True, older_history=args.older_history)
        section = report.nightly(nightly_run)
        section[2:2] = [f"Measured by `python -m bench --nightly-only "
                        f"{'--older-history ' if args.older_history else ''}--export-sizes "
                        f"{','.join(str(n) for n in args.export_sizes)}` on "
                        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC ({nightly_run.seconds:.0f} s).", ""]
        return _put_section(args.output, report.nightly_heading(nightly_run), section)
    if args.export_only:
        print(f"analytics export at {', '.join(f'{n:,}' for n in args.export_sizes)} interactions",
              file=sys.stderr, flush=True)
        export_run = export.measure(tuple(args.export_sizes), tuple(args.export_runs), args.export_customers,
                                    args.export_date, segments=args.export_segments, profile=args.export_profile,
                                    day_facts=args.day_facts)
        section = report.export(export_run)
        section[2:2] = [f"Measured again by `python -m bench --export-only` on "
                        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC ({export_run.seconds:.0f} s); the "
                        "figures at the top of this page are the last full run's.", ""]
        _put_section(args.output, report.NIGHTLY_HEADING, report.nightly(export_run))
        return _put_section(args.output, report.EXPORT_HEADING, section)
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
    late_run = None
    if not args.skip_late:
        print(f"late-deliveries job on {args.late_orders} orders", file=sys.stderr, flush=True)
        late_run = late.measure(args.late_orders)
    campaign_run = None
    if not args.skip_campaigns:
        print(f"a campaign to {args.campaign_customers} customers", file=sys.stderr, flush=True)
        campaign_run = campaigns.measure(args.campaign_customers, args.campaign_sample)
    facts_format_run = None
    if not args.skip_facts_format:
        print("facts files: Parquet against gzipped JSON Lines", file=sys.stderr, flush=True)
        facts_format_run = facts_format.measure()
    export_run = None
    if not args.skip_export:
        print(f"analytics export at {', '.join(f'{n:,}' for n in args.export_sizes)} interactions",
              file=sys.stderr, flush=True)
        export_run = export.measure(tuple(args.export_sizes), tuple(args.export_runs), args.export_customers,
                                    args.export_date, segments=args.export_segments, profile=args.export_profile,
                                    day_facts=args.day_facts)
    text = report.document(cold, counts, time.perf_counter() - started, reminder_run, export_run, late_run,
                           campaign_run, facts_format_run)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
