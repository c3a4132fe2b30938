"""`make bench`: cold-start and DynamoDB-request benchmarks of the Relasi API.

Two measurements, written to docs/performance.md and printed:

- cold start (bench.coldstart): the import time of `app` in fresh processes
  against the floor every Chalice + boto3 Lambda pays (`import boto3, chalice`);
- DynamoDB requests per API operation (bench.requests): the API is driven on
  the local stack exactly like the tests drive it, and every botocore API call
  is counted by service, operation and table.

Run `python -m bench --help` for the options.
"""

from __future__ import annotations

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
