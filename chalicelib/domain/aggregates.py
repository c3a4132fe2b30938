"""Real-time aggregates: what one CRM record contributes to the analytics counters (pure).

The records are domain objects (Customer, Interaction, Complaint), decoded once
from each stream record by chalicelib/persistence/changes.py.

The stream consumer keeps counters per branch and for every branch together
(scope `ALL`), per local day (the deployment's calendar, settings().timezone)
or for now (`NOW`: current-state counters). Instead of reasoning about each
kind of change, every item has a *contribution*: what it adds to every
counter given its current state. A stream record then changes the counters
by

    delta(old, new) = contributions(new) - contributions(old)

so moves between counters (a customer changing branch or stage, a complaint
changing status, a reminder going pending -> sent), deletions and edits are
right by construction, and at any time

    counters == sum of contributions(item) over the items in the table

(for the records counted so far; chalicelib/persistence/aggregates.py applies
each record exactly once). A consequence worth knowing: erasing a customer
takes their history out of every counter, "new customers" of their day too.

Counter names (`name` of a CounterKey; `<x>` is a value of the item):

| name | period | one per |
|---|---|---|
| `cust|<stage>` | NOW | customer in that lifecycle stage |
| `cust|new` | day created | customer |
| `int|<channel>` | day it happened | interaction recorded by staff (no `delivery`) |
| `rem|<state>`, `ntf|<state>` | day decided | message the CRM sent or decided not to send: reminders (birthday, due date) and complaint updates; state `sent`, `pending` (pending or sending), `failed`, or `skipped|<reason>` |
| `cx|opened` | day opened | complaint |
| `cx|open|<department>|<severity>` | NOW | complaint not resolved yet (open, acknowledged, in progress) |
| `cx|resolved`, `cx|res_s`, `cx|res_h|le<h>` / `cx|res_h|inf` | day resolved | resolved (or closed) complaint: 1, its resolution time in seconds, 1 in its histogram bucket (RESOLUTION_TIME_BUCKETS_HOURS) |
| `cx|breach|<department>` | day of the first deadline missed | complaint that missed an SLA deadline (see `breach_day`) |
| `ord|placed` | day placed | order (any status) |
| `ord|sold`, `rev|net_c` | day placed | order that is revenue (confirmed up to closed: not draft, cancelled or returned): 1, its net total in cents |
| `ord|cat|<category>`, `rev|cat|<category>` | day placed | such an order with lines of the category: 1, those lines' totals in cents |
| `ord|delivered` | day delivered | order delivered (and still delivered, closed or returned) |
| `ord|returned`, `rev|ret_c` | day returned | returned order: 1, its net total in cents |
| `srv|sent|<department>` | day sent | satisfaction survey (its branch: where the subject was handled) |
| `srv|ans|<department>`, `srv|csat|<department>|<1-5>`, `srv|nps|<department>|<promoter, passive, detractor>` | day answered | answered survey: 1, its score, its 0-10 answer's group (if asked and answered) |
| `stf|<staff>|srv_sent`, `stf|<staff>|srv_ans`, `stf|<staff>|csat|<1-5>` | day sent, day answered | the same, by the staff member whose work the survey is about |
| `stf|<staff>|cx_res`, `stf|<staff>|cx_ack_sla`, `stf|<staff>|cx_res_sla`, `stf|<staff>|cx_reopened` | day resolved | resolved complaint, counted for who resolved it (`resolved_by`, a staff id) in the branch they resolved it in (`resolved_branch`, whatever branch the case moves to later): 1, acknowledged by its deadline, resolved by its deadline, reopened before |
| `dpt|<department>|cx_res`, `dpt|<department>|cx_ack_sla`, ... | day resolved | the same per department (what analysts see instead of people) |

Money is counted in cents (integers, exact). Scope is the record's `branch_id`; interactions written before they carried a
branch count under `unknown` (and in `ALL`). Records of other kinds (due
items, erasure markers; guards, claims and history entries are not decoded at
all) contribute nothing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from chalicelib.config import RESOLUTION_TIME_BUCKETS_HOURS
from chalicelib.domain.clock import parse_iso
from chalicelib.domain.complaints import UNRESOLVED, Complaint
from chalicelib.domain.customers import Customer
from chalicelib.domain.interactions import Interaction, InteractionKind
from chalicelib.domain.orders import REVENUE_STATUSES, Order, Status
from chalicelib.domain.surveys import Survey, nps_group

ALL = "ALL"  # scope: every branch
UNKNOWN_BRANCH = "unknown"  # scope of items that do not say their branch
NOW = "NOW"  # period of current-state counters; otherwise a local date YYYY-MM-DD
SECONDS_PER_HOUR = 3600
COMPLAINT_MESSAGE_KIND = InteractionKind.COMPLAINT_FOLLOWUP.value  # what chalicelib.workflows.stream notifies with

_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class CounterKey(NamedTuple):
    scope: str  # a branch id, UNKNOWN_BRANCH or ALL
    period: str  # NOW or a local date YYYY-MM-DD
    name: str  # e.g. "int|whatsapp"


Contributions = dict[CounterKey, int]


@lru_cache(maxsize=8)
def _zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def _default_zone() -> tzinfo:
    from chalicelib.config import settings

    return _zone(settings().timezone)


def _token(value: Any, default: str = "other") -> str:
    """A value as one part of a counter name: no `|`, short, or `default`."""
    text = str(value) if value is not None else ""
    return text if _TOKEN.fullmatch(text) else default


def _scope(branch: Any) -> str:
    scope = _token(branch, UNKNOWN_BRANCH)
    return UNKNOWN_BRANCH if scope == ALL else scope


def _moment(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return parse_iso(stamp)
    except ValueError:
        return None


def local_day(stamp: Any, zone: tzinfo) -> str | None:
    """The local date (YYYY-MM-DD) of a stored UTC time, or None if it is not one."""
    moment = _moment(stamp)
    return moment.astimezone(zone).date().isoformat() if moment is not None else None


def resolution_bucket(seconds: int, bounds_hours: Iterable[float] = RESOLUTION_TIME_BUCKETS_HOURS) -> str:
    """The histogram counter a resolution time falls in: the first bound it does not exceed."""
    for bound in bounds_hours:
        if seconds <= bound * SECONDS_PER_HOUR:
            return f"cx|res_h|le{bound:g}"
    return "cx|res_h|inf"


def breach_day(c: Complaint, zone: tzinfo) -> str | None:
    """The local day a complaint first missed an SLA deadline, or None if it has not (as far as the item says).

    Judged from the item alone, so the same item always counts the same:
    acknowledged after `ack_due_at`, or escalated (`breached`) without an
    acknowledgement in time, is a miss of the acknowledge deadline (counted
    on its day); otherwise resolved after `resolve_due_at`, or escalated, is
    a miss of the resolve deadline. An unresolved complaint past a deadline
    counts once the escalation workflow has marked it (it does at the deadline).
    """
    ack_due, resolve_due = c.ack_due_at, c.resolve_due_at
    acknowledged, resolved = c.acknowledged_at, c.resolved_at
    escalated = c.escalated
    if isinstance(ack_due, str):
        late_ack = isinstance(acknowledged, str) and acknowledged > ack_due
        if late_ack or (escalated and not (isinstance(acknowledged, str) and acknowledged <= ack_due)):
            return local_day(ack_due, zone)
    if isinstance(resolve_due, str):
        late_resolve = isinstance(resolved, str) and resolved > resolve_due
        if late_resolve or escalated:
            return local_day(resolve_due, zone)
    return None


def _customer(c: Customer, zone: tzinfo) -> Iterable[tuple[str, str, int]]:
    yield NOW, f"cust|{_token(c.lifecycle_stage)}", 1
    created = local_day(c.created_at, zone)
    if created:
        yield created, "cust|new", 1


def _interaction(i: Interaction, zone: tzinfo) -> Iterable[tuple[str, str, int]]:
    day = local_day(i.occurred_at, zone)
    if not day:
        return
    delivery = i.delivery
    if delivery is None:  # recorded by staff
        yield day, f"int|{_token(i.channel)}", 1
        return
    family = "ntf" if i.kind == COMPLAINT_MESSAGE_KIND else "rem"
    if delivery in ("pending", "sending"):
        yield day, f"{family}|pending", 1
    elif delivery in ("sent", "failed"):
        yield day, f"{family}|{delivery}", 1
    elif delivery == "skipped":
        yield day, f"{family}|skipped|{_token(i.reason)}", 1


def _complaint(c: Complaint, zone: tzinfo) -> Iterable[Counted]:
    department = _token(c.department)
    opened = local_day(c.created_at, zone)
    if opened:
        yield opened, "cx|opened", 1
    if c.status in UNRESOLVED:
        yield NOW, f"cx|open|{department}|{_token(c.severity)}", 1
    created, resolved = _moment(c.created_at), _moment(c.resolved_at)
    resolved_day = local_day(c.resolved_at, zone)
    if created is not None and resolved is not None and resolved_day:
        seconds = max(0, int((resolved - created) / timedelta(seconds=1)))
        yield resolved_day, "cx|resolved", 1
        yield resolved_day, "cx|res_s", seconds
        yield resolved_day, resolution_bucket(seconds), 1
    breached = breach_day(c, zone)
    if breached:
        yield breached, f"cx|breach|{department}", 1
    if resolved_day:  # performance: the cases each department, and each person, resolved, and how
        # a person's stays in the branch they resolved it in (the case follows its customer if they move)
        who = [(f"dpt|{department}", None)] + ([(f"stf|{_token(c.resolved_by)}", _scope(c.resolved_branch))]
                                                if c.resolved_by and c.resolved_branch else [])
        in_time = c.acknowledged_at is not None and c.acknowledged_at <= c.ack_due_at
        for prefix, where in who:
            yield resolved_day, f"{prefix}|cx_res", 1, where
            if in_time:
                yield resolved_day, f"{prefix}|cx_ack_sla", 1, where
            if c.resolved_at and c.resolved_at <= c.resolve_due_at:
                yield resolved_day, f"{prefix}|cx_res_sla", 1, where
            if c.reopens:
                yield resolved_day, f"{prefix}|cx_reopened", 1, where


def _survey(s: Survey, zone: tzinfo) -> Iterable[tuple[str, str, int]]:
    department = _token(s.department)
    staff = f"stf|{_token(s.staff_id)}" if s.staff_id else None
    sent = local_day(s.sent_at, zone)
    if sent:
        yield sent, f"srv|sent|{department}", 1
        if staff:
            yield sent, f"{staff}|srv_sent", 1
    answered = local_day(s.answered_at, zone) if s.status == "answered" and s.csat is not None else None
    if answered:
        yield answered, f"srv|ans|{department}", 1
        yield answered, f"srv|csat|{department}|{s.csat}", 1
        if s.nps is not None:
            yield answered, f"srv|nps|{department}|{nps_group(s.nps)}", 1
        if staff:
            yield answered, f"{staff}|srv_ans", 1
            yield answered, f"{staff}|csat|{s.csat}", 1


def cents(amount: Any) -> int:
    """An exact amount (Decimal with 2 places) in cents."""
    return int(amount * 100)


def _order(o: Order, zone: tzinfo) -> Iterable[tuple[str, str, int]]:
    placed = local_day(o.placed_at, zone)
    if placed:
        yield placed, "ord|placed", 1
        if o.status in REVENUE_STATUSES:
            yield placed, "ord|sold", 1
            yield placed, "rev|net_c", cents(o.net_total)
            by_category: Counter[str] = Counter()
            for line in o.lines:
                by_category[_token(line.category)] += cents(line.total)
            for category, amount in by_category.items():
                yield placed, f"ord|cat|{category}", 1
                yield placed, f"rev|cat|{category}", amount
    delivered = local_day(o.delivered_at, zone)
    if delivered and o.status in (Status.DELIVERED, Status.CLOSED, Status.RETURNED):
        yield delivered, "ord|delivered", 1
    returned = local_day(o.returned_at, zone)
    if returned and o.status == Status.RETURNED:
        yield returned, "ord|returned", 1
        yield returned, "rev|ret_c", cents(o.net_total)


Counted = tuple[str, str, int] | tuple[str, str, int, str | None]  # (period, name, n[, scope if not the item's])


def _counters(entity: object, zone: tzinfo) -> Iterable[Counted]:
    if isinstance(entity, Customer):
        return _customer(entity, zone)
    if isinstance(entity, Interaction):
        return _interaction(entity, zone)
    if isinstance(entity, Complaint):
        return _complaint(entity, zone)
    if isinstance(entity, Order):
        return _order(entity, zone)
    if isinstance(entity, Survey):
        return _survey(entity, zone)
    return ()  # anything else (due items, erasure markers...) counts for nothing


def contributions(entity: object | None, zone: tzinfo | None = None) -> Contributions:
    """What one record of the CRM (a Customer, Interaction or Complaint; anything else counts for
    nothing) adds to every counter. Every counter twice: in the record's branch and in ALL."""
    if entity is None:
        return {}
    zone = zone or _default_zone()
    branch = _scope(getattr(entity, "branch_id", None))
    result: Counter[CounterKey] = Counter()
    for counted in _counters(entity, zone):
        period, name, n = counted[:3]
        where = counted[3] if len(counted) > 3 else None
        for scope in (where or branch, ALL):
            result[CounterKey(scope, period, name)] += n
    return {k: v for k, v in result.items() if v}


def delta(old: object | None, new: object | None, zone: tzinfo | None = None) -> Contributions:
    """How one change (old -> new; None for absent) moves the counters; zeros left out."""
    zone = zone or _default_zone()
    result: Counter[CounterKey] = Counter(contributions(new, zone))
    result.subtract(contributions(old, zone))
    return {k: v for k, v in result.items() if v}


def total(entities: Iterable[object | None], zone: tzinfo | None = None) -> Contributions:
    """The sum of the contributions of many records (what the counters hold for them)."""
    zone = zone or _default_zone()
    result: Counter[CounterKey] = Counter()
    for entity in entities:
        result.update(contributions(entity, zone))
    return {k: v for k, v in result.items() if v}


def drift(expected: Mapping[CounterKey, int], before: Mapping[CounterKey, int], after: Mapping[CounterKey, int]
          ) -> tuple[dict[CounterKey, int], int]:
    """How far the counters are from a recount of the table: ({counter: expected - counted}, how many moved).

    `before` and `after` are the counters read before and after the table was
    recounted; a counter that changed meanwhile was being counted while the
    recount read the table, so it is not judged (it is, on the next run).
    """
    moved = {k for k in before.keys() | after.keys() if before.get(k, 0) != after.get(k, 0)}
    found = {k: expected.get(k, 0) - after.get(k, 0) for k in expected.keys() | after.keys() if k not in moved}
    return {k: d for k, d in found.items() if d}, len(moved)


def confirmed(found: Mapping[CounterKey, int], previous: Mapping[CounterKey, int]) -> dict[CounterKey, int]:
    """The drift found again, alike, by a later recount: lost for good, not on its way (a record still
    being delivered or retried when the first recount ran would have arrived since and changed it)."""
    return {k: d for k, d in found.items() if previous.get(k) == d}


# --------------------------------------------------------------------------
# Reading: a window of day counters and the NOW counters -> the summary
# --------------------------------------------------------------------------


def percentile(histogram: list[tuple[float | None, int]], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a histogram of (upper bound, count) buckets, in ascending order.

    Rule: the upper bound of the first bucket where the cumulative count
    reaches the nearest rank ceil(q x total). So p90 = 24 reads "at least 90%
    were resolved within 24 hours". None when the histogram is empty, or when
    the rank lands in the last, unbounded bucket (longer than every bound).
    """
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    count = sum(n for _, n in histogram)
    if count <= 0:
        return None
    rank = math.ceil(q * count - 1e-9)
    cumulative = 0
    for bound, n in histogram:
        cumulative += n
        if cumulative >= rank:
            return bound
    return None


@dataclass(frozen=True)
class Window:
    first: date
    last: date

    @property
    def days(self) -> list[str]:
        return [(self.first + timedelta(days=i)).isoformat() for i in range((self.last - self.first).days + 1)]


def _sum(counters: Iterable[Mapping[str, int]], name: str) -> int:
    return sum(int(c.get(name, 0)) for c in counters)


def _by_suffix(counters: Mapping[str, int], prefix: str, known: Iterable[str] = ()) -> dict[str, int]:
    """{rest of the name: n} of the counters named prefix + rest (rest without `|`), known names first with 0."""
    found = {k: 0 for k in known}
    for name, n in counters.items():
        if name.startswith(prefix) and "|" not in name[len(prefix):]:
            found[name[len(prefix):]] = found.get(name[len(prefix):], 0) + int(n)
    return found


_MESSAGE_FAMILIES = ("rem", "ntf")  # reminders (birthday, due date), complaint updates


def _messages(counters: Mapping[str, int], *families: str) -> dict[str, Any]:
    """Messages of these families in counters of a day or a window: sent, pending, failed, skipped (by reason)."""
    skipped: Counter[str] = Counter()
    for family in families:
        skipped.update(_by_suffix(counters, f"{family}|skipped|"))
    return {
        **{state: sum(int(counters.get(f"{family}|{state}", 0)) for family in families)
           for state in ("sent", "pending", "failed")},
        "skipped": sum(skipped.values()),
        "skipped_by_reason": dict(sorted(skipped.items())),
    }


def summarize(window: Window, days: Mapping[str, Mapping[str, int]], now: Mapping[str, int], *,
              stages: Iterable[str] = (), channels: Iterable[str] = (), departments: Iterable[str] = (),
              bounds_hours: Iterable[float] = RESOLUTION_TIME_BUCKETS_HOURS) -> dict[str, Any]:
    """The summary answer from the day counters of the window ({date: {name: n}}) and the NOW counters.

    `stages`, `channels`, `departments` are listed with 0 when nothing was counted for them.
    """
    dates = window.days
    per_day = [days.get(d, {}) for d in dates]
    summed: Counter[str] = Counter()
    for counters in per_day:
        summed.update({k: int(v) for k, v in counters.items()})

    def series(name: str) -> list[dict[str, Any]]:
        return [{"date": d, "n": int(c.get(name, 0))} for d, c in zip(dates, per_day, strict=True)]

    by_stage = _by_suffix(now, "cust|", stages)
    by_channel = _by_suffix(summed, "int|", channels)
    open_cases = []
    for name, n in sorted(now.items()):
        parts = name.split("|")
        if len(parts) == 4 and parts[:2] == ["cx", "open"] and int(n):
            open_cases.append({"department": parts[2], "severity": parts[3], "n": int(n)})
    bounds = list(bounds_hours)
    histogram: list[tuple[float | None, int]] = [(float(b), int(summed.get(f"cx|res_h|le{b:g}", 0))) for b in bounds]
    histogram.append((None, int(summed.get("cx|res_h|inf", 0))))
    resolved = int(summed.get("cx|resolved", 0))
    seconds = int(summed.get("cx|res_s", 0))
    breaches = _by_suffix(summed, "cx|breach|", departments)
    channel_names = list(by_channel)

    def messages(*families: str) -> dict[str, Any]:
        return {**_messages(summed, *families),
                "per_day": [{"date": d, **_messages(c, *families)} for d, c in zip(dates, per_day, strict=True)]}

    return {
        "customers_by_stage": by_stage,
        "customers_total": sum(by_stage.values()),
        "new_customers": {"total": int(summed.get("cust|new", 0)), "per_day": series("cust|new")},
        "interactions": {
            "total": sum(by_channel.values()),
            "by_channel": by_channel,
            "per_day": [{"date": d, "n": sum(day.values()), "by_channel": day}
                        for d, day in ((d, _by_suffix(c, "int|", channel_names)) for d, c in zip(dates, per_day,
                                                                                                 strict=True))],
        },
        "complaints": {
            "open_total": sum(c["n"] for c in open_cases),
            "open_by_department_severity": open_cases,
            "opened": int(summed.get("cx|opened", 0)),
            "resolved": resolved,
            "opened_per_day": series("cx|opened"),
            "resolved_per_day": series("cx|resolved"),
            "resolution_hours": {
                "count": resolved,
                "mean": round(seconds / SECONDS_PER_HOUR / resolved, 2) if resolved else None,
                "p50": percentile(histogram, 0.5),
                "p90": percentile(histogram, 0.9),
                "histogram": [{"le_hours": b, "n": n} for b, n in histogram],
            },
            "sla_breaches": sum(breaches.values()),
            "sla_breaches_by_department": breaches,
        },
        "notifications": {
            **messages(*_MESSAGE_FAMILIES),
            "reminders": messages("rem"),
            "complaint_updates": messages("ntf"),
        },
        "revenue": {**revenue_row(summed), "per_day": [{"date": d, **revenue_row(c)}
                                                       for d, c in zip(dates, per_day, strict=True)]},
    }


def _money(amount_cents: int) -> str:
    from decimal import Decimal

    from chalicelib.domain.money import money_text

    return str(money_text(Decimal(amount_cents).scaleb(-2)))


def revenue_row(counters: Mapping[str, int]) -> dict[str, Any]:
    """Net revenue (orders confirmed up to closed, by the day placed), those orders and their average, orders
    placed (any status), delivered and returned (with their value), by the day each happened."""
    net, sold = int(counters.get("rev|net_c", 0)), int(counters.get("ord|sold", 0))
    return {"net_revenue": _money(net), "orders": sold,
            "average_order_value": _money(round(net / sold)) if sold else None,
            "orders_placed": int(counters.get("ord|placed", 0)), "orders_delivered": int(counters.get("ord|delivered", 0)),
            "returns": int(counters.get("ord|returned", 0)), "returned_value": _money(int(counters.get("rev|ret_c", 0)))}


def revenue(window: Window, days: Mapping[str, Mapping[str, int]], by: str) -> dict[str, Any]:
    """GET /analytics/revenue from the day counters of the window: the totals and one row per day, month or
    product category (a category's `orders` are the orders with lines of it; its revenue those lines' totals)."""
    summed: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = {}
    for d in window.days:
        counters = {k: int(v) for k, v in days.get(d, {}).items()}
        summed.update(counters)
        if by in ("day", "month"):
            groups.setdefault(d if by == "day" else d[:7], Counter()).update(counters)
    if by == "category":
        rows = []
        for name in sorted(n for n in summed if n.startswith("rev|cat|")):
            category = name.split("|", 2)[2]
            net, orders = summed[name], summed.get(f"ord|cat|{category}", 0)
            rows.append({"key": category, "net_revenue": _money(net), "orders": orders,
                         "average_order_value": _money(round(net / orders)) if orders else None})
    else:
        rows = [{"key": key, **revenue_row(counters)} for key, counters in groups.items()]
    return {"totals": revenue_row(summed), "items": rows}


# --------------------------------------------------------------------------- satisfaction (GET /analytics/satisfaction)

def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def csat_row(distribution: Mapping[int, int], min_answers: int) -> dict[str, Any]:
    """CSAT: the share of answers that are 4 or 5, with the count and each score's; `insufficient` under
    `min_answers` (shown, never ranked)."""
    n = sum(distribution.values())
    return {"answers": n, "satisfied_share": _share(distribution.get(4, 0) + distribution.get(5, 0), n),
            "distribution": {str(k): distribution.get(k, 0) for k in range(1, 6)}, "insufficient": n < min_answers}


def nps_row(groups: Mapping[str, int], min_answers: int) -> dict[str, Any]:
    """NPS: promoters' share minus detractors' share, in points (-100..100), with the count of each group."""
    promoters, passives, detractors = (groups.get(g, 0) for g in ("promoter", "passive", "detractor"))
    n = promoters + passives + detractors
    return {"answers": n, "score": round((promoters - detractors) * 100 / n, 1) if n else None,
            "promoters": promoters, "passives": passives, "detractors": detractors, "insufficient": n < min_answers}


def _satisfaction_row(counters: Mapping[str, int], department: str | None, min_answers: int) -> dict[str, Any]:
    """Surveys sent and answered, the response rate, CSAT and NPS of some day counters: of one department, or
    of every department (None)."""
    def part(name: str) -> str | None:  # the department of a counter `srv|<kind>|<department>...`
        pieces = name.split("|")
        return pieces[2] if len(pieces) > 2 else None

    sent = answered = 0
    distribution: Counter[int] = Counter()
    groups: Counter[str] = Counter()
    for name, n in counters.items():
        if not name.startswith("srv|") or (department is not None and part(name) != department):
            continue
        kind = name.split("|")[1]
        if kind == "sent":
            sent += n
        elif kind == "ans":
            answered += n
        elif kind == "csat":
            distribution[int(name.rsplit("|", 1)[1])] += n
        elif kind == "nps":
            groups[name.rsplit("|", 1)[1]] += n
    return {"sent": sent, "answered": answered, "response_rate": _share(answered, sent),
            "csat": csat_row(distribution, min_answers), "nps": nps_row(groups, min_answers)}


def _handled(counters: Mapping[str, int], prefix: str) -> dict[str, Any]:
    """Complaints resolved by a staff member (`stf|<name>|`) or a department (`dpt|<name>|`), and how."""
    resolved, reopened = counters.get(f"{prefix}cx_res", 0), counters.get(f"{prefix}cx_reopened", 0)
    return {"complaints_resolved": resolved, "acknowledged_within_sla": counters.get(f"{prefix}cx_ack_sla", 0),
            "resolved_within_sla": counters.get(f"{prefix}cx_res_sla", 0), "reopened": reopened,
            "reopen_rate": _share(reopened, resolved)}


def _staff_row(counters: Mapping[str, int], staff: str, min_answers: int) -> dict[str, Any]:
    prefix = f"stf|{staff}|"
    return {**_handled(counters, prefix), "surveys_sent": counters.get(f"{prefix}srv_sent", 0),
            "surveys_answered": counters.get(f"{prefix}srv_ans", 0),
            "csat": csat_row({k: counters.get(f"{prefix}csat|{k}", 0) for k in range(1, 6)}, min_answers)}


def satisfaction(window: Window, days: Mapping[str, Mapping[str, int]], by: str, min_answers: int
                 ) -> dict[str, Any]:
    """GET /analytics/satisfaction from the window's day counters: the totals and one row per day, department or
    staff member. Staff rows carry their complaints (resolved, within SLA, reopened) and the CSAT of the
    surveys about their work; those with `min_answers` answers or more are ranked by CSAT (the rest are listed
    by name, unranked: too few answers to compare)."""
    summed: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = {}
    for d in window.days:
        counters = Counter({k: int(v) for k, v in days.get(d, {}).items()})
        summed.update(counters)
        per_day[d] = counters
    totals = _satisfaction_row(summed, None, min_answers)
    if by == "day":
        items = [{"key": d, **_satisfaction_row(c, None, min_answers)} for d, c in per_day.items()]
    elif by == "department":  # what staff performance is for analysts: departments, never people
        departments = sorted({n.split("|")[2] for n in summed if n.startswith("srv|") and len(n.split("|")) > 2}
                             | {n.split("|")[1] for n in summed if n.startswith("dpt|")})
        items = [{"key": d, **_satisfaction_row(summed, d, min_answers), **_handled(summed, f"dpt|{d}|")}
                 for d in departments]
    else:
        staff = sorted({n.split("|")[1] for n in summed if n.startswith("stf|")})
        rows = [{"key": s, **_staff_row(summed, s, min_answers)} for s in staff]
        ranked = sorted((r for r in rows if not r["csat"]["insufficient"]),
                        key=lambda r: (-r["csat"]["satisfied_share"], -r["csat"]["answers"], r["key"]))
        items = [{**r, "rank": n} for n, r in enumerate(ranked, start=1)] + [
            {**r, "rank": None} for r in rows if r["csat"]["insufficient"]]
    return {"totals": totals, "items": items}
