"""Items the daily reminders job reads per reminder due, on a large table (issue 3, section 5).

The local stack starts in this process as in bench.dynamodb (moto, the
template provisioned into it). N customers are built by the same use case
the API runs (`chalicelib.services.customers.build` on validated
`CustomerCreate` bodies, as infra/seed.py does) and bulk-loaded with
`chalicelib.persistence.customers.load`; birthdays are spread uniformly over
the year, a share of customers has due items (service, installment,
warranty...) due from half a year back to a year ahead, and a few numbers are
on the STOP list. Then `chalicelib.workflows.reminders.run` runs for one day
with a `start` that records the Step Functions executions instead of
starting them: the job's own reads are what is measured.

Two counts of the items read, which should agree: the job's own RunReport
(`items_read`), and botocore's answers to the calls this thread made
(`BaseClient._make_api_call` wrapped as in bench.dynamodb: `ScannedCount` of
each Query, the items each BatchGetItem returned). Beside it, what a job
that scanned the table would read per reminder: the table's items divided by
the reminders due.

moto is made faster for this section only, without changing what the app
sends or what moto answers it: an item's 400 KB size check is summed once
instead of once per attribute it adds (quadratic), a transaction of puts,
deletes and condition checks rolls back from an undo log instead of a deep
copy of the whole table taken before each one (seconds per reminder claimed
at 150,000 items), and the bulk load keeps no stream records (no one reads
this section's stream; the job's own writes do go to it). moto is reset
before and after the section: the table name is the same as in the
requests section, and its items would otherwise stay in memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from bench.dynamodb import _free_port, _quiet_simulator

DEFAULT_CUSTOMERS = 50_000
DEFAULT_DAY = date(2026, 11, 23)
TARGET = 1.1  # items read per reminder due (issue 3, section 5)
LOAD_CHUNK = 1000  # customers per persistence.customers.load call
SEED = 20261123

# The population (shares of customers)
WITH_BIRTHDAY = 0.92
WITH_EMAIL = 0.7
PREFERS_EMAIL = 0.3  # of those with an email
SMS_CONSENT = 0.6
EMAIL_CONSENT = 0.5
ENGLISH = 0.15
WITH_DUE_ITEMS = 0.35  # each has 1-3
DUE_WINDOW_DAYS = (-182, 365)  # due dates around the day: half a year of old items, a year ahead
ON_STOP_LIST = 0.02

PREFIXES = ("811", "812", "813", "821", "822", "852", "853", "857", "878", "896")
DUE_KINDS = (("service", 40, "Servis berkala"), ("installment", 30, "Angsuran kredit"),
             ("warranty", 15, "Garansi berakhir"), ("contract", 10, "Kontrak sewa berakhir"),
             ("custom", 5, "Perpanjangan STNK"))
INSTALLMENTS = (1_850_000.0, 2_750_000.0, 4_200_000.0)


# --- counting what botocore answered ----------------------------------------------------------------


@dataclass
class ReadCount:
    """The DynamoDB calls of one run of the job, and the items their answers held."""

    requests: Counter[str] = field(default_factory=Counter)  # operation -> calls
    query_scanned: int = 0  # sum of ScannedCount (items read before any filter)
    query_returned: int = 0  # sum of Count
    batch_get_items: int = 0  # items the BatchGetItem answers held
    batch_get_keys: int = 0  # keys asked for
    scanned_by_scan: int = 0  # a Scan would show here
    other_services: Counter[str] = field(default_factory=Counter)

    @property
    def items_read(self) -> int:
        return self.query_scanned + self.batch_get_items + self.scanned_by_scan

    @property
    def read_requests(self) -> int:
        return sum(n for op, n in self.requests.items() if op in ("Query", "BatchGetItem", "Scan", "GetItem"))


class ItemCounter:
    """Wraps botocore's BaseClient._make_api_call (as bench.dynamodb.Recorder) for this thread."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.count: ReadCount | None = None
        self._original: Callable[..., Any] | None = None

    def install(self) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        counter = self

        def counting(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            count = counter.count
            if count is None or threading.get_ident() != counter.thread:
                return original(client, operation_name, api_params)
            service = client.meta.service_model.service_name
            if service != "dynamodb":
                count.other_services[f"{service} {operation_name}"] += 1
                return original(client, operation_name, api_params)
            count.requests[operation_name] += 1
            if operation_name == "BatchGetItem":
                count.batch_get_keys += sum(len(r.get("Keys", [])) for r in api_params.get("RequestItems", {}).values())
            answer = original(client, operation_name, api_params)
            if not isinstance(answer, dict):
                return answer
            if operation_name == "Query":
                count.query_scanned += int(answer.get("ScannedCount", 0))
                count.query_returned += int(answer.get("Count", 0))
            elif operation_name == "Scan":
                count.scanned_by_scan += int(answer.get("ScannedCount", 0))
            elif operation_name == "BatchGetItem":
                count.batch_get_items += sum(len(items) for items in answer.get("Responses", {}).values())
            return answer

        self._original = original
        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from botocore.client import BaseClient

        if self._original is not None:
            BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None

    @contextlib.contextmanager
    def capture(self) -> Iterator[ReadCount]:
        self.count = ReadCount()
        try:
            yield self.count
        finally:
            self.count = None


# --- a faster moto, for this section only --------------------------------------------------------------


@contextlib.contextmanager
def faster_moto() -> Iterator[list[str]]:
    """Patch moto's DynamoDB while inside; yields what was patched (nothing if moto's internals differ).

    The local stack's own patches (infra/moto_speedups.py, once per process: transactions one at a time) go in
    first, so that leaving puts them back rather than moto's originals: a later section in the same process
    (`make bench` runs them one after another) would otherwise run moto's unserialized transactions, whose
    table copies break under the sender's threads."""
    from infra import moto_speedups

    moto_speedups.install()
    applied: list[str] = []
    undo: list[Callable[[], None]] = []
    try:
        _linear_item_size(applied, undo)
        _cheap_transaction_backup(applied, undo)
        yield applied
    finally:
        for restore in reversed(undo):
            restore()


def _linear_item_size(applied: list[str], undo: list[Callable[[], None]]) -> None:
    """moto's Item checks the 400 KB limit by re-summing every attribute at each one it adds (quadratic)."""
    try:
        from moto.dynamodb.models import dynamo_type as dt
    except ImportError:
        return
    item_class = getattr(dt, "Item", None)
    needed = ("LimitedSizeDict", "DynamoType", "bytesize", "ItemSizeTooLarge")
    if item_class is None or not all(hasattr(dt, name) for name in needed):
        return
    original = item_class.__init__
    if original.__code__.co_varnames[:4] != ("self", "hash_key", "range_key", "attrs"):
        return
    limit = 405_000  # moto's LimitedSizeDict

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        converted = {key: dt.DynamoType(value) for key, value in attrs.items()}
        if sum(dt.bytesize(key) + value.size() for key, value in converted.items()) > limit:
            raise dt.ItemSizeTooLarge
        self.attrs = dt.LimitedSizeDict(converted)  # dict.update: no per-key re-check

    item_class.__init__ = init

    def restore() -> None:
        item_class.__init__ = original

    undo.append(restore)
    applied.append("item size summed once")


def _cheap_transaction_backup(applied: list[str], undo: list[Callable[[], None]]) -> None:
    """Roll a failed transaction of puts, deletes and condition checks back from an undo log.

    moto deep-copies every table a transaction touches before writing, to put
    the copy back if the transaction fails. Puts and deletes only replace or
    remove items in the table's item index and append to its stream, so for
    those the old items under the transaction's keys and the stream's length
    are enough: they are kept here, the "copy" moto makes is the table itself,
    and on failure the kept items go back and the stream is cut to its length.
    Transactions with an Update (which edits items in place) keep moto's copy.
    """
    try:
        from moto.dynamodb import models
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.table import Table
    except ImportError:
        return
    backend = getattr(models, "DynamoDBBackend", None)
    previous_copy: Any = getattr(models, "copy", None)
    if backend is None or previous_copy is None or not hasattr(backend, "transact_write_items"):
        return
    previous = backend.transact_write_items
    local = threading.local()
    missing = object()

    class CopyModule:
        def deepcopy(self, obj: Any, memo: Any = None) -> Any:
            if getattr(local, "cheap", False) and memo is None and isinstance(obj, Table):
                return obj  # rolled back from the undo log instead
            return previous_copy.deepcopy(obj, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(previous_copy, name)

    def undo_log(tables: dict[str, Any], transact_items: Any) -> list[Callable[[], None]] | None:
        """How to put back what the transaction may change; None if it is not puts/deletes/checks only."""
        steps: list[Callable[[], None]] = []
        shards: dict[int, Any] = {}
        for entry in transact_items:
            if not isinstance(entry, dict) or len(entry) != 1:
                return None
            kind, op = next(iter(entry.items()))
            if kind not in ("Put", "Delete", "ConditionCheck") or not isinstance(op, dict):
                return None
            table = tables.get(op.get("TableName", ""))
            if table is None:
                continue  # moto answers ResourceNotFound before writing anything
            key = op.get("Item") if kind == "Put" else op.get("Key")
            try:
                hash_value = DynamoType(key[table.hash_key_attr])  # type: ignore[index]
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None  # type: ignore[index]
            except (KeyError, TypeError):
                return None
            by_hash = table.items.get(hash_value, missing)
            if range_value is None:
                steps.append(_restore_hash_only(table, hash_value, by_hash, missing))
            else:
                old = by_hash.get(range_value, missing) if by_hash is not missing else missing
                steps.append(_restore_ranged(table, hash_value, range_value, by_hash is missing, old, missing))
            shard = table.stream_shard
            if shard is not None and id(shard) not in shards:
                shards[id(shard)] = shard
                steps.append(_restore_stream(shard, shard.items, len(shard.items)))
        return steps

    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        transact_items = args[0] if args else kwargs.get("transact_items", [])
        steps = undo_log(self.tables, transact_items)
        local.cheap = steps is not None
        try:
            return previous(self, *args, **kwargs)
        except BaseException:
            for step in reversed(steps or []):
                step()
            raise
        finally:
            local.cheap = False

    models.copy = CopyModule()  # type: ignore[assignment]
    backend.transact_write_items = transact_write_items

    def restore() -> None:
        models.copy = previous_copy
        backend.transact_write_items = previous

    undo.append(restore)
    applied.append("transactions of puts and deletes roll back from an undo log")


def _restore_hash_only(table: Any, hash_value: Any, old: Any, missing: object) -> Callable[[], None]:
    def step() -> None:
        if old is missing:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = old

    return step


def _restore_ranged(table: Any, hash_value: Any, range_value: Any, new_hash: bool, old: Any,
                    missing: object) -> Callable[[], None]:
    def step() -> None:
        if new_hash:
            table.items.pop(hash_value, None)
            return
        by_range = table.items[hash_value]
        if old is missing:
            by_range.pop(range_value, None)
        else:
            by_range[range_value] = old

    return step


def _restore_stream(shard: Any, records: list[Any], length: int) -> Callable[[], None]:
    def step() -> None:
        if shard.items is records:  # (moto empties it only after handing records to a Lambda mapping)
            del records[length:]

    return step


@contextlib.contextmanager
def bulk_load_without_stream_records() -> Iterator[bool]:
    """moto keeps a stream record (the item's JSON, sized) per write; no one reads this section's stream."""
    try:
        from moto.dynamodb.models.table import StreamShard
    except ImportError:
        yield False
        return
    original = StreamShard.add

    def add(self: Any, old: Any, new: Any) -> None:
        return None

    StreamShard.add = add  # type: ignore[method-assign]
    try:
        yield True
    finally:
        StreamShard.add = original  # type: ignore[method-assign]


def _reset_moto() -> None:
    """Forget every resource of earlier sections (same process, same table name) and free their memory."""
    with contextlib.suppress(ImportError):
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()


# --- the population ------------------------------------------------------------------------------------


@dataclass
class Population:
    customers: list[Any]  # chalicelib.domain.customers.Customer
    due: list[tuple[Any, Any]]  # (DueItem, Customer)
    stop_phones: list[str]

    @property
    def with_birthday(self) -> int:
        return sum(1 for c in self.customers if c.birthday)

    @property
    def with_due_items(self) -> int:
        return len({d.customer_id for d, _ in self.due})

    @property
    def emails(self) -> int:
        return sum(1 for c in self.customers if c.email)


def build_population(count: int, day: date, seed_value: int = SEED) -> Population:
    """`count` customers through the API's model and use case, their due items and the STOP list."""
    from chalicelib.api.customers_models import CustomerCreate
    from chalicelib.domain.access import Principal, Role, authorize
    from chalicelib.domain.clock import iso, new_id, utcnow
    from chalicelib.domain.reminders import DueItem
    from chalicelib.services import customers
    from infra.demo import BRANCHES

    admin = Principal(sub="bench", username="bench", roles=frozenset({Role.ADMIN}), branch=None)
    create = authorize(admin, "customers.create")
    rng = random.Random(seed_value)
    kinds = [k for k, _, _ in DUE_KINDS]
    weights = [w for _, w, _ in DUE_KINDS]
    titles = {k: t for k, _, t in DUE_KINDS}
    made: list[Any] = []
    due: list[tuple[Any, Any]] = []
    stop: list[str] = []
    now = utcnow()
    for n in range(count):
        number = n // len(PREFIXES)
        phone = f"0{PREFIXES[n % len(PREFIXES)]}-{number // 10000 % 10000:04d}-{number % 10000:04d}"
        email = f"pelanggan{n}@contoh.co.id" if rng.random() < WITH_EMAIL else None
        consent = {"sms_marketing": {"value": rng.random() < SMS_CONSENT, "source": "showroom-form"}}
        if email:
            consent["email_marketing"] = {"value": rng.random() < EMAIL_CONSENT, "source": "showroom-form"}
        body = {
            "name": f"Pelanggan {n}",
            "phone": phone,
            "email": email,
            # born 1950-2005, any day of the year alike (29 February once in four years)
            "birthday": (date(1950, 1, 1) + timedelta(days=rng.randrange(20_454))).isoformat()
            if rng.random() < WITH_BIRTHDAY else None,
            "branch_id": BRANCHES[n % len(BRANCHES)],
            "lifecycle_stage": rng.choice(["lead", "prospect", "customer", "customer", "customer", "inactive"]),
            "preferred_channel": "email" if email and rng.random() < PREFERS_EMAIL else "sms",
            "language": "en" if rng.random() < ENGLISH else "id",
            "consent": consent,
        }
        customer = customers.build(create, CustomerCreate.model_validate(body, strict=False).to_domain())
        made.append(customer)
        if rng.random() < ON_STOP_LIST:
            stop.append(customer.phone)
        if rng.random() < WITH_DUE_ITEMS:
            for _ in range(rng.randint(1, 3)):
                kind = rng.choices(kinds, weights)[0]
                due_date = day + timedelta(days=rng.randint(*DUE_WINDOW_DAYS))
                due.append((DueItem(
                    id=new_id(now),
                    customer_id=customer.id,
                    kind=kind,
                    title=titles[kind],
                    due_date=due_date.isoformat(),
                    created_at=iso(now),
                    created_by="bench",
                    amount=rng.choice(INSTALLMENTS) if kind == "installment" else None,
                ), customer))
    return Population(made, due, stop)


def load_population(population: Population, say: Callable[[str], None]) -> None:
    """Customers (and their guards) with persistence.customers.load, due items batch-written, STOP entries put."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.domain.reminders import contact_of
    from chalicelib.persistence import consent
    from chalicelib.persistence import customers as customers_repo
    from chalicelib.persistence import reminders as due_items
    from chalicelib.persistence.tables import DueItemItem

    total = len(population.customers)
    started = time.perf_counter()
    for start in range(0, total, LOAD_CHUNK):
        customers_repo.load(population.customers[start:start + LOAD_CHUNK], [])
        done = min(start + LOAD_CHUNK, total)
        if done % (10 * LOAD_CHUNK) == 0 or done == total:
            say(f"  {done} customers loaded ({time.perf_counter() - started:.0f} s)")
    with DueItemItem.batch_write() as batch:
        for item, customer in population.due:
            batch.save(due_items.to_item(item, contact_of(customer)))
    stamp = iso(utcnow())
    for phone in population.stop_phones:
        consent.set_sms_opt_out(phone, True, at=stamp, source="bench")


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class JobRun:
    report: dict[str, Any]  # RunReport.to_dict()
    items_read: int  # RunReport.items_read
    read_requests: int  # RunReport.read_requests
    counted: ReadCount
    executions: int  # started by the job (recorded here, not started)
    largest_input_bytes: int
    seconds: float


@dataclass
class ReminderBench:
    customers: int
    with_birthday: int
    emails: int
    with_due_items: int
    due_items: int
    stop_entries: int
    table_items: int  # DescribeTable ItemCount before the job
    day: str
    fired_at: str  # UTC
    fired_local: str  # e.g. 08:00 Asia/Jakarta
    expected_birthdays: int
    expected_due: dict[int, int]  # days ahead -> due items
    job: JobRun
    build_seconds: float
    load_seconds: float
    speedups: list[str]

    @property
    def written_items(self) -> int:
        """What the bench wrote: profiles, phone and email guards, due items, STOP entries."""
        return self.customers * 2 + self.emails + self.due_items + self.stop_entries

    @property
    def expected_reminders(self) -> int:
        return self.expected_birthdays + sum(self.expected_due.values())

    @property
    def reminders_due(self) -> int:
        return int(self.job.report["reminders_due"])

    @property
    def per_reminder(self) -> float:
        return self.job.items_read / self.reminders_due if self.reminders_due else float("nan")

    @property
    def counted_per_reminder(self) -> float:
        return self.job.counted.items_read / self.reminders_due if self.reminders_due else float("nan")

    @property
    def scan_per_reminder(self) -> float:
        return self.table_items / self.reminders_due if self.reminders_due else float("nan")

    def verdict(self) -> str:
        if not self.reminders_due:
            return "NO DATA (no reminder due)"
        if self.job.counted.requests["Scan"]:
            return f"MISSES (the job scanned {self.job.counted.scanned_by_scan} items)"
        worst = max(self.per_reminder, self.counted_per_reminder)
        return "meets" if worst <= TARGET else "MISSES"


def _expected(population: Population, day: date) -> tuple[int, dict[int, int]]:
    from chalicelib.domain import reminders as rules

    birthdays = sum(1 for c in population.customers if c.birthday and rules.greeted_on(c.birthday, day))
    ahead = {d.isoformat(): offset for d, offset in rules.due_dates(day).items()}
    due: Counter[int] = Counter(ahead[d.due_date] for d, _ in population.due if d.due_date in ahead)
    return birthdays, {offset: due[offset] for offset in sorted(set(ahead.values()), reverse=True)}


def _run_job(counter: ItemCounter, day: date, fired_at: datetime) -> JobRun:
    from chalicelib.workflows import reminders

    started: list[tuple[str, int]] = []

    def start(name: str, payload: dict[str, Any]) -> str:
        started.append((name, len(json.dumps(payload).encode())))
        return f"arn:aws:states:local:000000000000:execution:bench:{name}"

    clock = time.perf_counter()
    with counter.capture() as counted:
        report = reminders.run(day, fired_at, start=start)
    seconds = time.perf_counter() - clock
    return JobRun(report.to_dict(), report.items_read, report.read_requests, counted, len(started),
                  max((size for _, size in started), default=0), seconds)


def measure(customer_count: int = DEFAULT_CUSTOMERS, day: date = DEFAULT_DAY, progress: bool = True) -> ReminderBench:
    def say(text: str) -> None:
        if progress:
            print(f"  {text}", file=sys.stderr, flush=True)

    saved = dict(os.environ)
    server = None
    sink = io.StringIO()  # the app's JSON logs
    try:
        with contextlib.redirect_stdout(sink), _quiet_simulator(), faster_moto() as speedups:
            _reset_moto()
            from infra.local_stack import prepare

            say("starting moto and provisioning the stack")
            server, env = prepare(_free_port(), seed=False)
            from chalicelib.config import reminders_local_hour, settings

            clock = time.perf_counter()
            say(f"building {customer_count} customers (CustomerCreate + services.customers.build)")
            population = build_population(customer_count, day)
            build_seconds = time.perf_counter() - clock
            say(f"loading them: {len(population.due)} due items, {len(population.stop_phones)} STOP entries")
            clock = time.perf_counter()
            with bulk_load_without_stream_records() as unrecorded:
                load_population(population, say)
            if unrecorded:
                speedups.append("no stream records for the bulk load")
            load_seconds = time.perf_counter() - clock

            import boto3

            table_items = int(boto3.client("dynamodb").describe_table(TableName=env["TABLE_NAME"])
                              ["Table"]["ItemCount"])
            zone = ZoneInfo(settings().timezone)
            # as the schedule fires it: REMINDERS_LOCAL_HOUR (08:00) local time on the day
            fired_at = datetime.combine(day, clock_time(reminders_local_hour()), tzinfo=zone).astimezone(UTC)
            birthdays, due = _expected(population, day)

            counter = ItemCounter()
            counter.install()
            try:
                say(f"daily job for {day.isoformat()} (executions recorded, not started)")
                job = _run_job(counter, day, fired_at)
            finally:
                counter.uninstall()
            result = ReminderBench(
                customers=len(population.customers), with_birthday=population.with_birthday,
                emails=population.emails, with_due_items=population.with_due_items,
                due_items=len(population.due), stop_entries=len(population.stop_phones), table_items=table_items,
                day=day.isoformat(), fired_at=fired_at.strftime("%Y-%m-%dT%H:%MZ"),
                fired_local=f"{fired_at.astimezone(zone):%H:%M} {zone.key}",
                expected_birthdays=birthdays, expected_due=due, job=job,
                build_seconds=build_seconds, load_seconds=load_seconds, speedups=list(speedups),
            )
    finally:
        if server is not None:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)
        _reset_moto()  # hundreds of thousands of items and their stream records
    return result
