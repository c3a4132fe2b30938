"""`python -m bench` (`make bench`): measure, print, and write docs/performance.md."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench import PROJECT_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Relasi benchmarks: cold start of `app` against `import boto3, chalice`, and the "
        "DynamoDB requests of every API operation on the local stack. Prints the report and writes it "
        "to docs/performance.md.",
    )
    parser.add_argument("--runs", type=int, default=15, metavar="N",
                        help="fresh processes per cold-start probe (default 15)")
    parser.add_argument("--seed", type=int, default=100, metavar="N",
                        help="demo customers to seed before counting requests (default 100)")
    parser.add_argument("--output", type=Path, default=PROJECT_DIR / "docs" / "performance.md", metavar="PATH",
                        help="where to write the report (default docs/performance.md)")
    parser.add_argument("--skip-cold-start", action="store_true", help="only count DynamoDB requests")
    parser.add_argument("--skip-requests", action="store_true", help="only measure the cold start")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    from bench import coldstart, dynamodb, report

    started = time.perf_counter()
    cold = None
    counts = None
    if not args.skip_cold_start:
        print(f"cold start: {args.runs} rounds of fresh processes", file=sys.stderr, flush=True)
        cold = coldstart.measure(args.runs)
    if not args.skip_requests:
        print("DynamoDB requests per operation", file=sys.stderr, flush=True)
        counts = dynamodb.measure(args.seed)
    text = report.document(cold, counts, time.perf_counter() - started)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(text)
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
