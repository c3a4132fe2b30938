"""`make bench`: cold-start, DynamoDB-request, reminder-job and analytics-export benchmarks of Relasi.

Four measurements, written to docs/performance.md and printed:

- cold start (bench.coldstart): the import time of `app` in fresh processes
  against the floor every Chalice + boto3 Lambda pays (`import boto3, chalice`);
- DynamoDB requests per API operation (bench.dynamodb): the API is driven on
  the local stack exactly like the tests drive it, and every botocore API call
  is counted by service, operation and table;
- items read by the daily reminder job per reminder due (bench.reminders):
  N customers (50,000 by default) bulk-loaded on the local stack, the job
  run for one day, its reads counted by itself and from botocore's answers,
  beside what a Scan of the table would read per reminder;
- the analytics export (bench.export): its throughput and peak memory at
  100,000 and 1,000,000 interactions, each run in a fresh process, against
  the floor of a plain paged Scan of the same table, checked against the
  Lambda function's limits (about 11 minutes of the bench; --skip-export).

Run `python -m bench --help` for the options.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
