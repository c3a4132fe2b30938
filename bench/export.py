"""The analytics export on a large table: throughput, peak memory, and the floor of a plain paged read.

The issue: `make bench` reports the export's throughput (rows/s) and peak
memory at 100,000 and 1,000,000 interactions (memory must stay flat between
the two), and the time of a plain paged read of the same rows as the floor,
as a ratio (target <= 1.5); and 1,000,000 interactions must export within the
Lambda limits (15 minutes, the function's configured memory).

The local stack starts in this process as in bench.reminders (moto server,
the template provisioned into it). N customers (10,000) are built by the API's
own model and use case (bench.reminders.build_population: birthdays, due
items, STOP-list entries), created two to three years before the day; a share
of them has a complaint with its history (the domain's own transitions).
Interactions are spread over the two years before the day with weighted
channels and kinds; a share are the CRM's own messages (notifications). Every
item goes through the app's persistence converters (`to_item` of customers,
interactions, complaints, due items; PynamoDB's `serialize`, i.e. what
PynamoDB would send) and is put straight into moto's table in this process
(MotoTable), without stream records: the HTTP round trip per batch of 25
would take many minutes at a million items and changes nothing in what is
stored. Worker processes build the interactions (PynamoDB is most of the
cost), this process puts them.

The table is filled to the first size (e.g. 10 interactions per customer),
measured, then topped up to the next (100 per customer) and measured again.

Each measurement runs in a fresh Python process (`python -m bench.export
<probe> ...`) that only talks HTTP to moto, so its peak RSS is its own, not
moto's: VmHWM of /proc/self/status, not getrusage's ru_maxrss, which Linux
carries over from the parent across the exec (the child would report the
bench process's peak, moto's million items included; see _rss_mib):

- floor: the export's own Scan (`export_source.scan_pages`, same segments and
  page size) turning each item into plain Python (`plain_item`) and doing
  nothing else with it: the read any export of these rows pays;
- export: `chalicelib.workflows.analytics.export_day(day, run_id)`,
  exactly what the Lambda function runs (a re-run of the same day, as the
  Lambda's retry would be: new parts, the manifest switched, old parts
  deleted);
- nightly: `export_day(day, run_id, full=False)`, the schedule's run of a night
  that is not the weekly compaction's (customers, complaints and orders
  through their indexes, no Scan); `--nightly-only` measures it alone, at
  sizes the full run's Scan would take long to measure (5,000,000).

Both import the same modules before the clock starts. Runs alternate (floor,
export, floor, export...) and medians are reported. The wall time includes
moto answering on the same machine (it shares the CPUs with the probe); the
probe's own CPU time is reported beside it, as the closest local figure to
what the Lambda's one vCPU (1,769 MB) spends.

moto is made faster for this section (infra/moto_speedups.install_fast_reads,
see there; tests/test_moto_speedups.py shows the answers are the same, byte
for byte): its Scan sorted every item of the table on every page and walked
from the first item to the ExclusiveStartKey (10 s a page at 140,000 items,
quadratic in pages), and it built the JSON of an item by walking botocore's
shapes (about 1 ms an item). With it, a Scan of a million items takes about
2.5 minutes here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import PROJECT_DIR
from bench.dynamodb import _free_port, _quiet_simulator
from infra.moto_speedups import table_changed

DEFAULT_SIZES = (100_000, 1_000_000)  # interactions (notifications included)
DEFAULT_CUSTOMERS = 10_000
DEFAULT_RUNS = (3, 1)  # measurements (floor and export each) per size, in the order of the sizes
# the day exported: 15 days ago, within the days a nightly run can export (the engagement items cover 35 days back)
DEFAULT_DAY = date.today() - timedelta(days=15)
TARGET_RATIO = 1.5  # export time / floor time (the issue)
FLAT_TOLERANCE = 0.2  # peak RSS at the largest size within +20% of the smallest's
LAMBDA_TIMEOUT_S = 900
LAMBDA_MEMORY_MB = 1769
SEED = 20261122

# The population
HISTORY_DAYS = 730  # interactions happen in the two years before the day
CREATED_DAYS_BEFORE = (730, 1095)  # customers were created two to three years before the day
NOTIFICATION_SHARE = 0.12  # interactions that are the CRM's own messages (birthday and due-date reminders)
WITH_COMPLAINT = 0.05  # customers with a complaint (1-2)
CHANNELS = (("phone", 25), ("visit", 20), ("chat", 20), ("sms", 10), ("email", 10), ("web", 10), ("social", 5))
KINDS = (("inquiry", 30), ("sales_talk", 25), ("service_talk", 25), ("feedback", 10), ("complaint_followup", 5),
         ("other", 5))
STAFF = 60  # staff members recording interactions
SUMMARIES = (
    "Menanyakan jadwal servis berkala dan estimasi biaya penggantian oli.",
    "Follow up penawaran unit baru, pelanggan minta simulasi kredit 36 bulan.",
    "Konfirmasi booking test drive hari Sabtu pagi di showroom.",
    "Keluhan suara kasar di kaki-kaki depan setelah servis terakhir, dijadwalkan cek ulang.",
    "Pelanggan puas dengan pelayanan bengkel, memberi masukan soal ruang tunggu.",
    "Menanyakan ketersediaan suku cadang dan waktu inden.",
    "Diskusi perpanjangan garansi dan paket perawatan.",
)
LOAD_CHUNK = 500  # customers whose items are built and put per step
DAY_FACTS = 50_000  # interactions of the day itself, logged by the change log as the stream consumer logs them
FACTS_RUNS = 3  # runs of the day's facts export per size
FACTS_FLAT = 1.2  # the day's facts export at the largest history within 1.2x of the smallest (wall and CPU)
NIGHTLY_RUNS = 3  # runs of the nightly run per size (within FACTS_FLAT too, and below NIGHTLY_LIMIT_SHARE)
NIGHTLY_LIMIT_SHARE = 0.1  # of Lambda's timeout


# --- building and loading the table ------------------------------------------------------------------


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[list[str], list[int]]:
    return [name for name, _ in pairs], [weight for _, weight in pairs]


def _stamp(moment: datetime) -> str:
    from chalicelib.domain.clock import iso

    return iso(moment)


@dataclass
class Table:
    """What was loaded so far."""

    customers: list[Any]  # chalicelib.domain.customers.Customer
    due_items: int
    stop_entries: int
    complaints: int = 0
    history_entries: int = 0
    interactions: int = 0  # staff interactions and notifications
    notifications: int = 0
    per_customer: int = 0
    first_per_customer: int = 0  # the first size's: the density of the last HISTORY_DAYS
    day_facts: int = 0  # of the interactions, those of the day itself, in the day's change log
    # each customer's contacts (engagement elements), which the stream consumer would have added to their engagement
    # item (chalicelib/persistence/engagement.py), and the customers whose item is in the table
    contacts: dict[str, set[str]] = field(default_factory=dict)
    messages: dict[str, set[str]] = field(default_factory=dict)  # and the messages sent (notifications)
    engaged: set[str] = field(default_factory=set)


def _note_contacts(table: Table, items: list[dict[str, Any]]) -> None:
    """The contacts and messages sent among these interaction items (serialized), as the stream consumer reads them
    from records."""
    from chalicelib.persistence import engagement

    found = engagement.changes_in({"eventName": "INSERT", "dynamodb": {"NewImage": attrs}} for attrs in items)
    for customer_id, changes in found.items():
        table.contacts.setdefault(customer_id, set()).update(changes.contacts)
        table.messages.setdefault(customer_id, set()).update(changes.messages)


def put_engagement(put: MotoTable, table: Table, day: date) -> None:
    """Each customer's engagement item as the stream consumer and the nightly prune leave it on the morning after
    `day`: their contacts of the last ENGAGEMENT_DAYS, the newest older one's time, their messages of the last
    MESSAGE_DAYS (no stream records: the bulk load made none, so the consumer never saw these interactions)."""
    from chalicelib.domain import engagement as eng
    from chalicelib.domain.exports import Snapshot
    from chalicelib.persistence.engagement import ENGAGEMENT_SK
    from chalicelib.persistence.tables import customer_pk

    local_day = Snapshot(day, "Asia/Jakarta").local_day
    for customer_id in table.contacts.keys() | table.messages.keys():
        elements, messages = table.contacts.get(customer_id, set()), table.messages.get(customer_id, set())
        old = eng.pruned(eng.Kept(frozenset(elements), messages=frozenset(messages)), day + timedelta(days=1),
                         local_day=local_day)
        attrs: dict[str, Any] = {"pk": {"S": customer_pk(customer_id)}, "sk": {"S": ENGAGEMENT_SK},
                                 "type": {"S": "engagement"}}
        if elements - old.contacts:
            attrs["contacts"] = {"SS": sorted(elements - old.contacts)}
        if messages - old.messages:
            attrs["messages"] = {"SS": sorted(messages - old.messages)}
        if old.older_last:
            attrs["older_last"] = {"S": old.older_last}
        put.put_raw(attrs)
        if customer_id in table.engaged:
            put.count -= 1  # replaced, not added
        table.engaged.add(customer_id)


class MotoTable:
    """Puts serialized items straight into moto's table in this process (no HTTP, no stream records).

    An item is stored as moto's PutItem stores it: an `Item` with the same hash and range key and the
    same DynamoType attributes, under its keys (string, number, boolean and null values are made
    without DynamoType's constructor, which would only find out their type; maps and lists go through
    it). PutItem's checks (key types and sizes, the 400 KB limit, a condition) are skipped, and so is
    moto's dashboard list of every model instance: the converters' items pass the checks, and at a
    million items they are a minute of the load.
    """

    def __init__(self, name: str) -> None:
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

        found = None
        for regions in dynamodb_backends.values():
            for backend in regions.values():
                if name in backend.tables:
                    found = backend.tables[name]
        if found is None:
            raise RuntimeError(f"table {name} not found in moto")
        if found.range_key_attr is None:
            raise RuntimeError(f"table {name} has no range key")
        self.table: Any = found
        self.hash_key: str = found.hash_key_attr
        self.range_key: str = found.range_key_attr
        self.count = 0
        self._dynamo_type, self._item, self._attributes = DynamoType, Item, LimitedSizeDict

    def put(self, model: Any) -> None:
        """A PynamoDB model, serialized as PynamoDB sends it in a PutItem or BatchWriteItem."""
        self.put_raw(model.serialize())

    def _value(self, value: dict[str, Any]) -> Any:
        """DynamoType(value)."""
        (kind, inner), = value.items()
        if kind in ("S", "N", "BOOL", "NULL"):
            made = self._dynamo_type.__new__(self._dynamo_type)
            made.type, made.value = kind, inner
            return made
        return self._dynamo_type(value)

    def put_raw(self, attrs: dict[str, Any]) -> None:
        item: Any = self._item.__new__(self._item)
        item.hash_key = self._value(attrs[self.hash_key])
        item.range_key = self._value(attrs[self.range_key])
        item.attrs = self._attributes({name: self._value(value) for name, value in attrs.items()})
        self.table.items[item.hash_key][item.range_key] = item
        self.count += 1
        table_changed()  # around moto's writes: the Query speed-up's index maps are built again


def _backdate(customer: Any, rng: random.Random, day: date) -> Any:
    """The customer as if created 2-3 years before the day (the use case stamps `now`)."""
    from chalicelib.domain.consent import Consent

    end = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    created = end - timedelta(days=rng.uniform(*CREATED_DAYS_BEFORE))
    stamp = _stamp(created)
    updated = _stamp(created + timedelta(days=rng.uniform(0, 400)))
    consent = {k: Consent(v.value, stamp, v.source) for k, v in customer.consent.items()}
    return dataclasses.replace(customer, created_at=stamp, updated_at=updated, consent=consent)


def load_customers(put: MotoTable, count: int, day: date, say: Callable[[str], None]) -> Table:
    """Profiles, guards, due items (persistence converters) and STOP entries."""
    from bench.reminders import build_population
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.domain.reminders import contact_of
    from chalicelib.persistence import consent
    from chalicelib.persistence import customers as customers_repo
    from chalicelib.persistence import reminders as due_items
    from chalicelib.persistence.tables import GUARD_SK, GuardItem, email_guard_pk, phone_guard_pk

    rng = random.Random(SEED)
    population = build_population(count, day, SEED)
    people = [_backdate(c, rng, day) for c in population.customers]
    for c in people:
        put.put(customers_repo.to_item(c))
        # the guards persistence.customers.create writes with the profile
        put.put(GuardItem(pk=phone_guard_pk(c.phone), sk=GUARD_SK, customer_id=c.id))
        if c.email:
            put.put(GuardItem(pk=email_guard_pk(c.email), sk=GUARD_SK, customer_id=c.id))
    for item, customer in population.due:
        put.put(due_items.to_item(item, contact_of(customer)))
    stamp = iso(utcnow())
    for phone in population.stop_phones:  # a few hundred PutItems over HTTP, as the app writes them
        consent.set_sms_opt_out(phone, True, at=stamp, source="bench")
    say(f"  {len(people):,} customers, {len(population.due):,} due items, "
        f"{len(population.stop_phones):,} STOP entries")
    return Table(people, len(population.due), len(population.stop_phones))


def load_complaints(put: MotoTable, table: Table, day: date) -> None:
    """A complaint (and its history) for a share of the customers, moved along by the domain's transitions."""
    from chalicelib.domain import complaints as rules
    from chalicelib.domain.clock import new_id
    from chalicelib.persistence import complaints as complaints_repo

    rng = random.Random(SEED + 1)
    end = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=17)  # before the day ends
    categories = list(rules.DEPARTMENT_OF)
    severities = [s.value for s in rules.Severity]
    for customer in table.customers:
        if rng.random() >= WITH_COMPLAINT:
            continue
        for _ in range(rng.choice((1, 1, 1, 2))):
            created = end - timedelta(days=rng.uniform(0, HISTORY_DAYS))
            severity = rng.choices(severities, (30, 40, 20, 10))[0]
            category = rng.choice(categories)
            ack_due, resolve_due = rules.deadlines(severity, created)
            by = f"staff-{rng.randrange(STAFF):02d}"
            stamp = _stamp(created)
            c = rules.Complaint(
                id=new_id(created), customer_id=customer.id, branch_id=customer.branch_id, category=category,
                department=rules.DEPARTMENT_OF[category], severity=severity,
                subject="Keluhan pelanggan", description="Uraian keluhan pelanggan (teks bebas, tidak diekspor).",
                status=rules.Status.OPEN.value, created_at=stamp, updated_at=stamp, created_by=by,
                ack_due_at=ack_due, resolve_due_at=resolve_due,
                history=[rules.HistoryEntry(at=stamp, by=by, change="created", to_value="open")],
            )
            moment = created
            steps = [rules.Status.ACKNOWLEDGED.value, rules.Status.IN_PROGRESS.value, "note",
                     rules.Status.RESOLVED.value, rules.Status.CLOSED.value]
            for step in steps[:rng.choice((0, 1, 2, 5, 5, 5, 5, 4))]:
                moment += timedelta(hours=rng.expovariate(1 / 20))
                if moment >= end:
                    break
                if step == "note":
                    c = rules.set_field(c, "resolution_note", "Sudah ditangani.", by=by, now=moment)
                else:
                    c = rules.transition(c, step, by=by, now=moment)
            c = dataclasses.replace(c, updated_at=c.history[-1].at,
                                    escalated=c.breached(min(moment, end)) and rng.random() < 0.5)
            put.put(complaints_repo.to_item(c))
            for entry in complaints_repo._history_items(c, c.history, 0):  # as persistence.complaints.create
                put.put(entry)
            table.complaints += 1
            table.history_entries += len(c.history)


def _interaction(rng: random.Random, customer: tuple[str, str, str], day_end: datetime, start: datetime,
                 channels: tuple[list[str], list[int]], kinds: tuple[list[str], list[int]]) -> Any:
    from chalicelib.config import SYSTEM_STAFF_ID
    from chalicelib.domain.clock import new_id
    from chalicelib.domain.interactions import Interaction

    customer_id, branch_id, preferred_channel = customer
    moment = start + (day_end - start) * rng.random()
    stamp = _stamp(moment)
    fields: dict[str, Any] = {"id": new_id(moment), "customer_id": customer_id, "occurred_at": stamp,
                              "created_at": stamp}
    if rng.random() < NOTIFICATION_SHARE:  # as workflows.reminders / notify record a message
        sent = rng.random() < 0.85
        fields.update(channel=preferred_channel, direction="outbound", staff_id=SYSTEM_STAFF_ID,
                      kind="other", summary="Yth. Bapak/Ibu, kendaraan Anda dijadwalkan servis berkala minggu ini.",
                      ref="birthday" if rng.random() < 0.4 else new_id(moment),
                      delivery="sent" if sent else "skipped",
                      reason=None if sent else "no_sms_marketing_consent")
    else:
        fields.update(channel=rng.choices(*channels)[0], direction=rng.choice(("inbound", "outbound")),
                      kind=rng.choices(*kinds)[0], summary=rng.choice(SUMMARIES),
                      staff_id=f"staff-{rng.randrange(STAFF):02d}")
    if "branch_id" in {f.name for f in dataclasses.fields(Interaction)}:
        fields["branch_id"] = branch_id  # the converter decides whether it is stored
    return Interaction(**fields)


Window = tuple[int, int] | None  # (first, last) days before the day's end the interactions happen in


def _interaction_items(task: tuple[int, int, str, list[tuple[str, str, str, str]], Window]
                       ) -> tuple[list[dict[str, Any]], int]:
    """In a worker process: `adding` interactions for each customer of a chunk, as PynamoDB serializes them, in the
    window (None: from the customer's creation or HISTORY_DAYS before the day, to its end)."""
    from chalicelib.persistence import interactions as interactions_repo

    seed, adding, day, customers, window = task
    rng = random.Random(seed)
    channels, kinds = _weighted(CHANNELS), _weighted(KINDS)
    day_end = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=UTC) + timedelta(hours=16, minutes=59)
    start_of_history = day_end - timedelta(days=HISTORY_DAYS)
    items: list[dict[str, Any]] = []
    notifications = 0
    for customer_id, created_at, branch_id, preferred_channel in customers:
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        start, end = max(created, start_of_history), day_end
        if window is not None:
            start, end = day_end - timedelta(days=window[0]), day_end - timedelta(days=window[1])
        for _ in range(adding):
            interaction = _interaction(rng, (customer_id, branch_id, preferred_channel), end, start, channels,
                                       kinds)
            items.append(interactions_repo.to_item(interaction).serialize())
            notifications += interaction.delivery is not None
    return items, notifications


def top_up(put: MotoTable, table: Table, per_customer: int, day: date, say: Callable[[str], None], *,
           older: bool = False) -> None:
    """Add interactions until every customer has `per_customer`: the same spread as those already there (the
    customers grow busier), or, `older`, before them at the same density (the company grows older: each customer's
    last two years stay as they were).

    Worker processes build the items (the domain's Interaction, persistence.interactions.to_item,
    PynamoDB's serialize: most of the cost), this process puts them into moto.
    """
    import multiprocessing

    adding = per_customer - table.per_customer
    if adding <= 0:
        return
    people = [(c.id, c.created_at, c.branch_id, c.preferred_channel) for c in table.customers]
    window: Window = None
    if older and table.per_customer:  # each earlier size's interactions fill HISTORY_DAYS per first size's count
        first = table.first_per_customer
        window = (round(HISTORY_DAYS * per_customer / first), round(HISTORY_DAYS * table.per_customer / first))
    tasks = [(SEED * 1000 + per_customer * 100 + n, adding, day.isoformat(), people[start:start + LOAD_CHUNK], window)
             for n, start in enumerate(range(0, len(people), LOAD_CHUNK))]
    started = time.perf_counter()
    workers = max(1, min(2, os.cpu_count() or 1))
    done = 0
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        for items, notifications in pool.imap(_interaction_items, tasks):
            for attrs in items:
                put.put_raw(attrs)
            _note_contacts(table, items)
            table.interactions += len(items)
            table.notifications += notifications
            done += 1
            if done % max(1, len(tasks) // 4) == 0:
                say(f"  {table.interactions:,} interactions in the table ({time.perf_counter() - started:.0f} s)")
    table.per_customer = per_customer
    table.first_per_customer = table.first_per_customer or per_customer


def log_day_facts(put: MotoTable, table: Table, day: date, count: int, say: Callable[[str], None]) -> None:
    """`count` interactions that happen on the day itself (notifications included), put into the table and logged
    by `chalicelib.persistence.change_log.record` from stream records as the consumer gets them (the bulk load
    makes none), so the day's change log holds exactly them."""
    from chalicelib.persistence import change_log
    from chalicelib.persistence import interactions as interactions_repo

    rng = random.Random(SEED + 2)
    channels, kinds = _weighted(CHANNELS), _weighted(KINDS)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=7)  # the local day (WIB)
    end = start + timedelta(hours=23, minutes=59)
    noon = float(int((start + timedelta(hours=12)).timestamp()))
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for _ in range(count):
        c = rng.choice(table.customers)
        interaction = _interaction(rng, (c.id, c.branch_id, c.preferred_channel), end, start, channels, kinds)
        attrs = interactions_repo.to_item(interaction).serialize()
        put.put_raw(attrs)
        _note_contacts(table, [attrs])
        table.interactions += 1
        table.notifications += interaction.delivery is not None
        records.append({"eventName": "INSERT", "dynamodb": {
            "ApproximateCreationDateTime": noon, "Keys": {"pk": attrs["pk"], "sk": attrs["sk"]}, "NewImage": attrs}})
        if len(records) == 1000:
            change_log.record(records)
            records = []
    change_log.record(records)
    table.day_facts += count
    say(f"  {count:,} interactions of {day.isoformat()} put and logged ({time.perf_counter() - started:.0f} s)")


# --- the probes, each in a fresh process -----------------------------------------------------------------


def _rss_mib(field: str = "VmHWM") -> float:
    """This process's peak (VmHWM) or current (VmRSS) resident set, MiB.

    Not getrusage's ru_maxrss: Linux carries the parent's peak over an exec
    (subprocess forks or vforks this process from the bench process, which
    holds moto and its million items), so a child's ru_maxrss is at least the
    parent's peak at the time. VmHWM belongs to the process's own memory map.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; see above


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _count_requests() -> Counter[str]:
    """Every AWS request the probe makes from now on, by service and operation (moto answers them all)."""
    import botocore.client

    counted: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        counted[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    return counted


def probe(kind: str, day: date, run_id: str, profile: str | None = None) -> dict[str, Any]:
    """Runs in the child: the floor or the export, timed after the same imports."""
    from chalicelib.config import settings
    from chalicelib.persistence import analytics_results, export_files, export_source, messages  # noqa: F401
    from chalicelib.persistence import raw as raw_values
    from chalicelib.workflows import analytics as analytics_export

    segments = settings().export_scan_segments
    rss_imported = _rss_mib()
    profiler = None
    thread_profiles: list[Any] = []
    if profile:
        import cProfile
        import threading

        original_run = threading.Thread.run

        def profiled_run(self: threading.Thread) -> None:  # the Scan's reader threads, too
            own = cProfile.Profile(time.thread_time)  # CPU time: waits for the GIL or the network are not work
            thread_profiles.append(own)
            own.enable()
            try:
                original_run(self)
            finally:
                own.disable()

        threading.Thread.run = profiled_run  # type: ignore[method-assign]
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
    requests = _count_requests()
    cpu, clock = _cpu_s(), time.perf_counter()
    result: dict[str, Any] = {"kind": kind, "segments": segments}
    if kind == "floor":
        counted: list[tuple[int, int]] = []

        def read(segment: int) -> None:
            items = pages = 0
            for page in export_source.scan_pages(segment, segments):
                pages += 1
                for raw in page:
                    raw_values.plain_item(raw)
                    items += 1
            counted.append((items, pages))

        if segments == 1:
            read(0)
        else:  # each segment in its own thread, as export_source.groups reads them
            import threading

            threads = [threading.Thread(target=read, args=(s,)) for s in range(segments)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        result.update(items=sum(i for i, _ in counted), pages=sum(p for _, p in counted))
    elif kind == "facts":  # the day's facts, from the change log (a part of export_day; the bench changes no entity)
        from chalicelib.aws import secret_value
        from chalicelib.domain import exports as ex

        config = settings()
        key = ex.Pseudonymizer(secret_value(config.pseudonym_secret_arn).encode())
        result["summary"] = analytics_export.export_changes(day, run_id, key, ex.Snapshot(day, config.timezone),
                                                            config.export_bucket, lambda logged, item: None)
    elif kind in ("backfill", "backfill-finish"):  # one step of the facts backfill, as its state machine runs it
        from chalicelib.workflows import backfill

        backfill_id, before, segment, total = os.environ["BENCH_BACKFILL"].split(",")
        if kind == "backfill":
            done = backfill.run_segment(backfill_id, date.fromisoformat(before), int(segment), int(total))
        else:
            done = backfill.finish(backfill_id, date.fromisoformat(before), int(total))
        result["summary"] = {"facts": {"rows": done["rows"], "bytes": 0, "parts": done["parts"]}}
    elif kind == "nightly":  # a nightly run: customers, complaints and orders through their indexes, no Scan
        result["summary"] = analytics_export.export_day(day, run_id, full=False)
    else:
        result["summary"] = analytics_export.export_day(day, run_id)
    result.update(seconds=time.perf_counter() - clock, cpu_seconds=_cpu_s() - cpu,
                  rss_imported_mib=rss_imported, peak_rss_mib=_rss_mib(), requests=dict(requests))
    if profiler is not None and profile:
        import pstats

        profiler.disable()
        profiler.dump_stats(profile)  # the main thread: the export's own work
        readers = None
        for own in thread_profiles:  # the Scan's reader threads: the floor's work, read ahead
            with contextlib.suppress(TypeError):  # a thread that never ran
                if readers is None:
                    readers = pstats.Stats(own)
                else:
                    readers.add(own)
        if readers is not None:
            readers.dump_stats(profile + ".readers")
    return result


def _child_main(argv: list[str]) -> int:
    kind, day, run_id, out = argv[:4]
    profile = argv[4] if len(argv) > 4 else None
    result = probe(kind, date.fromisoformat(day), run_id, profile)
    Path(out).write_text(json.dumps(result), encoding="utf-8")
    return 0


@dataclass
class Probe:
    kind: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    rss_imported_mib: float
    items: int = 0  # floor: items read
    pages: int = 0
    summary: dict[str, Any] = field(default_factory=dict)  # export: {dataset: {rows, bytes, parts}}
    requests: dict[str, int] = field(default_factory=dict)  # AWS requests made, by "service:Operation"

    @property
    def rows(self) -> int:
        return sum(int(d["rows"]) for d in self.summary.values())


def run_backfill(child_env: dict[str, str], day: date, table_items: int) -> tuple[list[Probe], Probe]:
    """The facts backfill of everything up to `day` (its `before` is the day after), each segment and the finish
    in a fresh process as the state machine's invocations are; then its records and files are removed, so the
    next size's nightly facts are the nightly run's again."""
    from chalicelib.aws import client
    from chalicelib.config import settings
    from chalicelib.domain.clock import new_id
    from chalicelib.domain.exports import FACTS_SCHEMA_VERSION
    from chalicelib.persistence import backfills
    from chalicelib.workflows.backfill import segments_for

    total = segments_for(table_items)
    backfill_id, before = new_id(), (day + timedelta(days=1)).isoformat()
    backfills.begin(backfill_id, before=before, segments=total, requested_by=None, now_epoch=int(time.time()),
                    lease_seconds=3600, facts_schema=FACTS_SCHEMA_VERSION)
    segments = [run_probe("backfill", day, {**child_env, "BENCH_BACKFILL": f"{backfill_id},{before},{s},{total}"})
                for s in range(total)]
    finish = run_probe("backfill-finish", day, {**child_env, "BENCH_BACKFILL": f"{backfill_id},{before},0,{total}"})
    dynamodb, s3, config = client("dynamodb"), client("s3"), settings()
    for sk in (backfill_id, backfills.LEASE_SK, backfills.CURRENT_SK):
        dynamodb.delete_item(TableName=config.analytics_table_name, Key={"pk": {"S": backfills.BACKFILL_PK},
                                                                         "sk": {"S": sk}})
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=config.export_bucket,
                                                                              Prefix="exports/")
            for o in page.get("Contents", []) if backfill_id in o["Key"]]  # its parts (b<id>-...) and manifests
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=config.export_bucket,
                          Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
    return segments, finish


def run_probe(kind: str, day: date, env: dict[str, str], profile: str | None = None) -> Probe:
    from chalicelib.domain.clock import new_id

    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        args = [sys.executable, "-m", "bench.export", kind, day.isoformat(), new_id(), out]
        if profile:
            args.append(profile)
        # stdout: the app's JSON logs, as CloudWatch would get them; not kept
        done = subprocess.run(args, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the {kind} probe failed ({done.returncode}):\n{done.stderr[-3000:]}")
        data = json.loads(Path(out).read_text(encoding="utf-8"))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(out)
    return Probe(kind=kind, seconds=data["seconds"], cpu_seconds=data["cpu_seconds"],
                 peak_rss_mib=data["peak_rss_mib"], rss_imported_mib=data["rss_imported_mib"],
                 items=data.get("items", 0), pages=data.get("pages", 0), summary=data.get("summary", {}),
                 requests=data.get("requests", {}))


# --- results -------------------------------------------------------------------------------------------


@dataclass
class SizeResult:
    interactions: int  # in the table (notifications included)
    notifications: int
    per_customer: int
    table_items: int
    floors: list[Probe]
    exports: list[Probe]
    manifest_rows: dict[str, int]  # rows each dataset's _manifest.json announces after the last run
    load_seconds: float
    facts: list[Probe] = field(default_factory=list)  # the day's facts export (export_changes) alone
    backfill: list[Probe] = field(default_factory=list)  # the facts backfill: each segment's invocation
    backfill_finish: Probe | None = None
    nightly: list[Probe] = field(default_factory=list)  # the nightly run (export_day(full=False))

    @staticmethod
    def _median(values: list[float]) -> float:
        return statistics.median(values)

    @property
    def export_seconds(self) -> float:
        return self._median([p.seconds for p in self.exports])

    @property
    def export_cpu_seconds(self) -> float:
        return self._median([p.cpu_seconds for p in self.exports])

    @property
    def floor_seconds(self) -> float:
        return self._median([p.seconds for p in self.floors])

    @property
    def floor_cpu_seconds(self) -> float:
        return self._median([p.cpu_seconds for p in self.floors])

    @property
    def peak_rss_mib(self) -> float:
        return self._median([p.peak_rss_mib for p in self.exports])

    @property
    def max_peak_rss_mib(self) -> float:
        return max(p.peak_rss_mib for p in self.exports)

    @property
    def floor_peak_rss_mib(self) -> float:
        return self._median([p.peak_rss_mib for p in self.floors])

    @property
    def rss_imported_mib(self) -> float:
        return self._median([p.rss_imported_mib for p in self.exports])

    @property
    def rows(self) -> int:
        return self.exports[-1].rows

    @property
    def exported_customers(self) -> int:
        return int(self.exports[-1].summary.get("customers", {}).get("rows", 0))

    @property
    def items_read(self) -> int:
        return self.floors[-1].items

    @property
    def pages(self) -> int:
        return self.floors[-1].pages

    @property
    def ratio(self) -> float:
        return self.export_seconds / self.floor_seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.export_seconds

    @property
    def interactions_per_second(self) -> float:
        return self.interactions / self.export_seconds  # read: the snapshot writes no interaction rows


@dataclass
class ExportBench:
    day: str
    customers: int
    complaints: int
    history_entries: int
    due_items: int
    stop_entries: int
    segments: int
    sizes: list[SizeResult]
    lambda_timeout_s: int
    lambda_memory_mb: int
    speedups: list[str]
    build_seconds: float
    seconds: float  # the whole section
    profiled_at: int = 0  # interactions in the table when the export was profiled (0: not profiled)
    profile_main: Profile | None = None  # the export's own thread
    profile_readers: Profile | None = None  # the Scan's reader threads
    day_facts_logged: int = 0  # interactions of the day itself, in its change log
    older_history: bool = False  # the larger sizes' interactions came before the smallest's (top_up)

    @property
    def largest(self) -> SizeResult:
        return self.sizes[-1]

    @property
    def smallest(self) -> SizeResult:
        return self.sizes[0]

    @property
    def flatness(self) -> float:
        """Peak RSS at the largest size / at the smallest."""
        return self.largest.peak_rss_mib / self.smallest.peak_rss_mib

    @property
    def day_facts(self) -> int:
        return self.sizes[0].facts[0].rows if self.sizes and self.sizes[0].facts else 0


def lambda_limits() -> tuple[int, int]:
    """(timeout s, memory MB) of the analytics-export function in .chalice/config.json (prod)."""
    try:
        config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text(encoding="utf-8"))
        function = config["stages"]["prod"]["lambda_functions"]["analytics-export"]
        return int(function["lambda_timeout"]), int(function["lambda_memory_size"])
    except (OSError, KeyError, ValueError):
        return LAMBDA_TIMEOUT_S, LAMBDA_MEMORY_MB


def _manifest_rows(env: dict[str, str], day: date) -> dict[str, int]:
    from chalicelib.domain import exports as ex
    from chalicelib.persistence import export_files

    rows: dict[str, int] = {}
    for name in ex.DATASETS:
        manifest = export_files.read_manifest(env["EXPORT_BUCKET"], name, day.isoformat())
        rows[name] = int(manifest["rows"]) if manifest else -1
    return rows


@dataclass
class Profile:
    """One thread group's cProfile (CPU time per thread): functions by own time."""

    total_seconds: float
    top: list[tuple[str, float, float]]  # (function, own s, with callees s), by own time
    app: list[tuple[str, float, float]]  # the app's own functions (chalicelib/), by time with callees


def _profile_top(path: str, count: int = 12) -> Profile | None:
    import pstats

    if not os.path.exists(path):
        return None
    stats = pstats.Stats(path)
    entries = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.replace(str(PROJECT_DIR) + "/", "")
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        elif "/lib/python3" in where:
            where = where.split("/lib/", 1)[1]
        entries.append((f"{where}:{line}({name})" if line else name, float(tottime), float(cumtime)))
    app = sorted((e for e in entries if e[0].startswith("chalicelib/") and "(export_day)" not in e[0]),
                 key=lambda e: e[2], reverse=True)
    entries.sort(key=lambda e: e[1], reverse=True)
    return Profile(sum(e[1] for e in entries), entries[:count], app[:count])


@contextlib.contextmanager
def _scan_speedup(speedups: list[str]) -> Iterator[None]:
    from infra import moto_speedups

    installed = moto_speedups.install_fast_reads()
    if installed:
        speedups.append(installed)
    try:
        yield
    finally:
        moto_speedups.uninstall_fast_reads()


def _repeated(kind: str, what: str, runs: int, day: date, env: dict[str, str],
              say: Callable[[str], None]) -> list[Probe]:
    """`runs` probes of one kind, each in a fresh process, each told as it ends."""
    probes: list[Probe] = []
    for n in range(runs):
        probes.append(run_probe(kind, day, env))
        say(f"  {what}, run {n + 1}/{runs}: {probes[-1].rows:,} rows in {probes[-1].seconds:.1f} s "
            f"(CPU {probes[-1].cpu_seconds:.1f} s), peak {probes[-1].peak_rss_mib:.0f} MiB")
    return probes


def measure(sizes: tuple[int, ...] = DEFAULT_SIZES, runs: tuple[int, ...] = DEFAULT_RUNS,
            customers: int = DEFAULT_CUSTOMERS, day: date = DEFAULT_DAY, *, segments: int | None = None,
            profile: bool = False, progress: bool = True, day_facts: int = DAY_FACTS,
            nightly_only: bool = False, older_history: bool = False) -> ExportBench:
    """Each size of history in turn: the full run against the floor of a plain paged read, the day's facts, the
    facts backfill, and the nightly run; `nightly_only`: the nightly run alone; `older_history`: each larger size
    adds its interactions before the smallest's (top_up)."""
    from bench.reminders import _reset_moto, bulk_load_without_stream_records, faster_moto

    def say(text: str) -> None:
        if progress:
            print(f"  {text}", file=sys.stderr, flush=True)

    from chalicelib.domain import engagement as eng

    if not eng.covers(day, date.today()):
        raise SystemExit(f"the nightly run cannot export {day} (the engagement items cover 35 days back): "
                         "choose a later --export-date")
    section_started = time.perf_counter()
    saved = dict(os.environ)
    server = None
    sink = io.StringIO()  # the app's JSON logs
    results: list[SizeResult] = []
    try:
        with contextlib.redirect_stdout(sink), _quiet_simulator(), faster_moto() as speedups, \
                _scan_speedup(speedups):
            _reset_moto()
            from infra.local_stack import prepare

            say("starting moto and provisioning the stack")
            server, env = prepare(_free_port(), seed=False)
            from chalicelib.config import settings
            from chalicelib.persistence import tables

            tables._bound_to = None  # a new endpoint: PynamoDB's connections of an earlier section are stale
            child_env = dict(os.environ)
            if segments is not None:
                child_env["EXPORT_SCAN_SEGMENTS"] = str(segments)
            else:
                segments = settings().export_scan_segments
            put = MotoTable(env["TABLE_NAME"])
            clock = time.perf_counter()
            say(f"building and loading {customers:,} customers and their complaints")
            with bulk_load_without_stream_records() as unrecorded:
                table = load_customers(put, customers, day, say)
                load_complaints(put, table, day)
            if unrecorded:
                speedups.append("no stream records for the bulk load")
            build_seconds = time.perf_counter() - clock
            profiled: tuple[int, Profile | None, Profile | None] = (0, None, None)
            for size, repeat in zip(sizes, runs, strict=True):
                per_customer = max(1, round(size / customers))
                clock = time.perf_counter()
                say(f"topping up to {per_customer} interactions per customer ({per_customer * customers:,})")
                with bulk_load_without_stream_records():
                    top_up(put, table, per_customer, day, say, older=older_history)
                if not table.day_facts:  # the day's own: the same change log at every size of history
                    log_day_facts(put, table, day, day_facts, say)
                put_engagement(put, table, day)
                load_seconds = time.perf_counter() - clock
                nightly = _repeated("nightly", "the nightly run", NIGHTLY_RUNS, day, child_env, say)
                if nightly_only:
                    results.append(SizeResult(
                        interactions=table.interactions, notifications=table.notifications,
                        per_customer=per_customer, table_items=put.count + table.stop_entries, floors=[], exports=[],
                        manifest_rows={}, load_seconds=load_seconds, nightly=nightly))
                    continue
                floors: list[Probe] = []
                exports: list[Probe] = []
                for n in range(repeat):
                    say(f"  run {n + 1}/{repeat}: floor (paged Scan) ...")
                    floors.append(run_probe("floor", day, child_env))
                    say(f"    {floors[-1].items:,} items in {floors[-1].seconds:.1f} s; export ...")
                    exports.append(run_probe("export", day, child_env))
                    say(f"    {exports[-1].rows:,} rows in {exports[-1].seconds:.1f} s, "
                        f"peak {exports[-1].peak_rss_mib:.0f} MiB")
                facts = _repeated("facts", "the day's facts", FACTS_RUNS, day, child_env, say)
                table_items = put.count + table.stop_entries
                say(f"  the facts backfill of {table_items:,} items, one process per segment ...")
                segments_run, finish_run = run_backfill(child_env, day, table_items)
                say(f"    {len(segments_run)} segment(s), slowest {max(p.seconds for p in segments_run):.1f} s, "
                    f"{sum(p.rows for p in segments_run):,} rows; finish {finish_run.seconds:.1f} s")
                missed = statistics.median(p.seconds for p in exports) > TARGET_RATIO * statistics.median(
                    p.seconds for p in floors)  # the ratio (of wall times)
                if (profile or missed) and not profiled[0]:
                    with tempfile.TemporaryDirectory() as scratch:
                        path = os.path.join(scratch, "export.pstats")
                        say("  export under cProfile (its ratio to the floor misses the target)" if missed
                            else "  export under cProfile")
                        run_probe("export", day, child_env, profile=path)
                        profiled = (table.interactions, _profile_top(path), _profile_top(path + ".readers"))
                results.append(SizeResult(
                    interactions=table.interactions, notifications=table.notifications, per_customer=per_customer,
                    table_items=put.count + table.stop_entries, floors=floors, exports=exports,
                    manifest_rows=_manifest_rows(env, day), load_seconds=load_seconds, facts=facts,
                    backfill=segments_run, backfill_finish=finish_run, nightly=nightly,
                ))
            timeout_s, memory_mb = lambda_limits()
            result = ExportBench(
                day=day.isoformat(), customers=len(table.customers), complaints=table.complaints,
                history_entries=table.history_entries, due_items=table.due_items, stop_entries=table.stop_entries,
                segments=segments, sizes=results, lambda_timeout_s=timeout_s, lambda_memory_mb=memory_mb,
                speedups=list(speedups), build_seconds=build_seconds, seconds=0.0, profiled_at=profiled[0],
                profile_main=profiled[1], profile_readers=profiled[2], day_facts_logged=table.day_facts,
                older_history=older_history,
            )
    finally:
        if server is not None:
            server.stop()
        os.environ.clear()
        os.environ.update(saved)
        _reset_moto()  # a million items
    result.seconds = time.perf_counter() - section_started
    return result


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
