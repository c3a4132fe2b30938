"""Items the late-deliveries job reads per late order, on a table of many orders (issue 14, section 7).

The local stack starts in this process as in bench.dynamodb. N orders are built with the order rules
(`chalicelib.domain.orders`) and bulk-loaded with `chalicelib.persistence.orders.load` (no stream records, as
in bench.reminders): most delivered or closed long ago, some on their way with a promised date still ahead,
and LATE_SHARE of them past their promised date and not delivered. The customers of the late orders are
loaded too (the job opens their complaints). Then `chalicelib.workflows.orders.late_deliveries` runs for the
day, and again (a schedule that fires twice), counting what botocore answered this thread
(bench.reminders.ItemCounter: ScannedCount of each Query, GetItem, BatchGetItem items). What a job that
scanned the table would read per late order is the table's items divided by the late orders.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.dynamodb import _free_port, _quiet_simulator
from bench.reminders import ItemCounter, ReadCount, _reset_moto, bulk_load_without_stream_records, faster_moto

DEFAULT_ORDERS = 100_000
DEFAULT_DAY = date(2026, 11, 23)
TARGET = 1.1  # items read per late order (issue 14, section 7)
LATE_SHARE = 0.01
ON_THE_WAY_SHARE = 0.05
LOAD_CHUNK = 2000
SEED = 20261205


@dataclass
class LateBench:
    orders: int
    late: int
    table_items: int
    day: str
    first: dict[str, int]
    first_count: ReadCount
    second: dict[str, int]
    second_count: ReadCount
    build_seconds: float
    load_seconds: float
    job_seconds: float
    speedups: list[str] = field(default_factory=list)

    @property
    def items_read(self) -> int:
        """Every item the first run's reads returned or scanned (a GetItem counts one)."""
        return self.first_count.items_read + self.first_count.requests.get("GetItem", 0)

    @property
    def per_late_order(self) -> float:
        return self.items_read / self.late if self.late else 0.0

    @property
    def scan_per_late_order(self) -> float:
        return self.table_items / self.late if self.late else 0.0

    def verdict(self) -> str:
        if self.first.get("complaints_opened") != self.late:
            return f"DIFFERS: {self.first.get('complaints_opened')} complaints for {self.late} late orders"
        return "meets" if self.per_late_order <= TARGET else "MISSES"


def _orders(count: int, day: date, rng: random.Random) -> tuple[list[Any], list[Any]]:
    """(orders, the customers of the late ones)."""
    from chalicelib.domain import orders as rules
    from chalicelib.domain.clock import iso, new_id
    from chalicelib.domain.customers import Customer

    branches = ("jakarta", "bandung", "surabaya")
    line = rules.line_of(1, rules.NewLine(sku="BENCH-OIL", qty=Decimal(2), tax_rate=Decimal("0.11")),
                         name="Oli", unit="litre", list_price=Decimal("95000"), category="oil_and_filter")
    totals = rules.totals_of([line])
    made, buyers = [], []
    noon = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=5)
    for n in range(count):
        kind = rng.random()
        if kind < LATE_SHARE:
            placed, status = noon - timedelta(days=rng.randint(3, 30)), rng.choice(["confirmed", "shipped"])
            promised = (placed + timedelta(days=1)).date()
            promised = min(promised, day - timedelta(days=1))
        elif kind < LATE_SHARE + ON_THE_WAY_SHARE:
            placed, status = noon - timedelta(days=rng.randint(0, 2)), "shipped"
            promised = day + timedelta(days=rng.randint(0, 7))
        else:
            placed, status = noon - timedelta(days=rng.randint(10, 700)), rng.choice(["delivered", "closed"])
            promised = (placed + timedelta(days=5)).date()
        stamp = iso(placed)
        customer_id = new_id(placed)
        branch = branches[n % 3]
        order = rules.Order(id=new_id(placed), order_no=f"B{n:07d}", customer_id=customer_id, branch_id=branch,
                            channel="phone", status=status, payment_status="paid", lines=[line],
                            subtotal=totals.subtotal, discount_total=totals.discount_total, tax_total=totals.tax_total,
                            net_total=totals.net_total, placed_at=stamp, updated_at=stamp, created_by="bench",
                            promised_date=promised.isoformat(), version=3)
        made.append(order)
        if order.awaits_delivery and (order.promised_date or "") < day.isoformat():
            buyers.append(Customer(id=customer_id, name="Bench Pelanggan", phone=f"+62819{n:08d}", branch_id=branch,
                                   created_at=stamp, updated_at=stamp))
    return made, buyers


def measure(order_count: int = DEFAULT_ORDERS, day: date = DEFAULT_DAY, progress: bool = True) -> LateBench:
    def say(text: str) -> None:
        if progress:
            print(f"  {text}", file=sys.stderr, flush=True)

    saved = dict(os.environ)
    server = None
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), _quiet_simulator(), faster_moto() as speedups:
            _reset_moto()
            from infra.local_stack import prepare

            say("starting moto and provisioning the stack")
            server, env = prepare(_free_port(), seed=False)
            clock = time.perf_counter()
            say(f"building {order_count} orders")
            made, buyers = _orders(order_count, day, random.Random(SEED))
            build_seconds = time.perf_counter() - clock
            clock = time.perf_counter()
            say(f"loading them and the {len(buyers)} customers of the late ones")
            from chalicelib.persistence import customers, orders

            with bulk_load_without_stream_records() as unrecorded:
                customers.load(buyers, [])
                for start in range(0, len(made), LOAD_CHUNK):
                    orders.load(made[start:start + LOAD_CHUNK])
            if unrecorded:
                speedups.append("no stream records for the bulk load")
            load_seconds = time.perf_counter() - clock

            import boto3

            table_items = int(boto3.client("dynamodb").describe_table(TableName=env["TABLE_NAME"])
                              ["Table"]["ItemCount"])
            from zoneinfo import ZoneInfo

            from chalicelib.config import LATE_DELIVERIES_LOCAL_HOUR, settings
            from chalicelib.workflows.orders import late_deliveries

            fired = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(settings().timezone)) + timedelta(
                hours=LATE_DELIVERIES_LOCAL_HOUR)
            counter = ItemCounter()
            counter.install()
            try:
                say(f"the late-deliveries job for {day.isoformat()}, twice")
                clock = time.perf_counter()
                with counter.capture() as first_count:
                    first = late_deliveries(fired)
                job_seconds = time.perf_counter() - clock
                with counter.capture() as second_count:
                    second = late_deliveries(fired)
            finally:
                counter.uninstall()
            late = len(buyers)
    finally:
        if server is not None:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)
        _reset_moto()
    return LateBench(orders=order_count, late=late, table_items=table_items, day=day.isoformat(), first=first,
                     first_count=first_count, second=second, second_count=second_count,
                     build_seconds=build_seconds, load_seconds=load_seconds, job_seconds=job_seconds,
                     speedups=list(speedups))


def requests_line(count: ReadCount) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(Counter(count.requests).items()))
