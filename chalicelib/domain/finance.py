"""The money analyses of the nightly export (pure): profitability, products bought together, abnormal transactions
and the revenue forecast.

They read the facts the export writes anyway (orders, order lines, notifications, complaints: pseudonyms, no
personal data), so analysts can recompute every number from the exported files (tests/test_finance_export.py
does, with DuckDB) and the API answers what Athena would. Everything is deterministic: the same facts give the
same rows in the same order, and every output is plain JSON (amounts as text with 2 decimals, ratios as floats
rounded to 6 places).

- Profitability per customer, branch and month: revenue (the lines' qty x unit price of revenue orders) minus
  discounts minus cost of goods (qty x the cost price the line was sold at) minus cost to serve (messages sent x
  their price, complaints handled x a handling cost). A line sold without a known cost price counts no cost of
  goods and lowers the coverage reported next to the numbers.
- Products bought together: association rules (Apriori, itemsets up to 3) over the baskets of the last 180 days,
  per branch and overall, on category, and on SKU once a scope has enough orders.
- Abnormal transactions: each order of the last days checked against the rules in `FLAG_REASONS`; a flag asks a
  person to look, it never blocks anything.
- Forecast: monthly net revenue per branch three months ahead by the better (lower backtest MAPE) of two
  transparent baselines, seasonal naive and a 3-month moving average; both errors are reported.
"""

from __future__ import annotations

import dataclasses
import statistics
from array import array
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any

from chalicelib.config import CostToServe
from chalicelib.domain.money import money_text, round_money

ZERO = Decimal("0.00")
MAD_TO_SIGMA = 0.6745  # the robust z-score's constant: MAD of a normal distribution is 0.6745 sigma


def _ratio(x: float) -> float:
    return round(x, 6)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _add_months(month: str, n: int) -> str:
    year, m = int(month[:4]), int(month[5:7]) - 1 + n
    return f"{year + m // 12:04d}-{m % 12 + 1:02d}"


# --------------------------------------------------------------------------
# The facts (what the export's rows say)
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class LineFact:
    sku: str
    category: str
    qty: Decimal
    unit_price: Decimal
    discount_amount: Decimal
    list_price: Decimal | None  # the product's list price when sold (older lines: unknown)
    cost_price: Decimal | None  # the product's cost price when sold (unknown: no cost of goods counted)

    @property
    def revenue(self) -> Decimal:
        """qty x unit price to the cent, half up: the line's subtotal on the order."""
        return round_money(self.qty * self.unit_price)

    @property
    def cost(self) -> Decimal | None:
        return None if self.cost_price is None else round_money(self.qty * self.cost_price)

    @property
    def listed(self) -> Decimal:
        """qty x the list price (the unit price where no list price was kept)."""
        return round_money(self.qty * (self.list_price if self.list_price is not None else self.unit_price))


@dataclass(frozen=True)
class OrderFact:
    order_key: str
    customer_key: str
    branch_id: str
    placed_at: str  # ISO 8601 UTC
    placed_on: date  # local
    is_revenue: bool
    net_total: Decimal  # with tax
    discount_total: Decimal
    lines: tuple[LineFact, ...]
    delivered_at: str | None = None
    returned_at: str | None = None
    phone_key: str | None = None  # pseudonym of the phone the order was placed with
    placed_with_staff_phone: bool = False  # that phone is the placing staff member's own
    changed_after_delivery: bool = False
    order_id: str | None = None  # for the API's managers; never exported

    @property
    def subtotal(self) -> Decimal:
        return sum((line.revenue for line in self.lines), ZERO)

    @property
    def net_revenue(self) -> Decimal:
        """Net of discounts, before tax: what the forecast forecasts."""
        return self.subtotal - self.discount_total


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# --------------------------------------------------------------------------
# Profitability
# --------------------------------------------------------------------------

@dataclass(slots=True)
class _Money:
    revenue: Decimal = ZERO
    discounts: Decimal = ZERO
    cogs: Decimal = ZERO
    sms: int = 0
    emails: int = 0
    complaints: int = 0
    lines: int = 0
    lines_costed: int = 0
    orders: int = 0

    def add(self, other: _Money) -> None:
        for name in ("revenue", "discounts", "cogs", "sms", "emails", "complaints", "lines", "lines_costed", "orders"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def cost_to_serve(self, prices: CostToServe) -> Decimal:
        return Decimal(self.sms * prices.sms_price + self.emails * prices.email_price
                       + self.complaints * prices.complaint_cost).quantize(ZERO)

    def profit(self, prices: CostToServe) -> Decimal:
        return self.revenue - self.discounts - self.cogs - self.cost_to_serve(prices)

    def row(self, prices: CostToServe) -> dict[str, Any]:
        return {"orders": self.orders, "revenue": money_text(self.revenue), "discounts": money_text(self.discounts),
                "cogs": money_text(self.cogs), "sms_sent": self.sms, "emails_sent": self.emails,
                "complaints": self.complaints, "cost_to_serve": money_text(self.cost_to_serve(prices)),
                "profit": money_text(self.profit(prices)), "lines": self.lines, "lines_costed": self.lines_costed,
                "cost_coverage": _ratio(self.lines_costed / self.lines) if self.lines else None}


class Profitability:
    """Per (customer, branch, month) over the PROFIT_MONTHS months up to the export day's month.

    Months with orders keep their money (`cells`); the messages and complaints of a customer in a branch are
    counts in one array over all the months (`counts`: sms, emails, complaints per month), not a cell per month:
    most customers get messages in most months and order in few, and a cell per month of messages made the
    export's memory grow with the history of messages."""

    _PER_MONTH = 3  # sms parts, emails, complaints

    def __init__(self, as_of: date, months: int, prices: CostToServe) -> None:
        self.prices = prices
        self.last = month_of(as_of)
        self.first = _add_months(self.last, 1 - months)
        self._months = self.months()
        self._index = {m: i for i, m in enumerate(self._months)}
        self.cells: dict[tuple[str, str, str], _Money] = defaultdict(_Money)
        self.counts: dict[tuple[str, str], array[int]] = {}

    def _cell(self, customer_key: str, branch_id: str, on: date) -> _Money | None:
        month = month_of(on)
        if not self.first <= month <= self.last:
            return None
        return self.cells[(customer_key, branch_id, month)]

    def _count(self, customer_key: str, branch_id: str, on: date, what: int, n: int) -> None:
        i = self._index.get(month_of(on))
        if i is None:
            return
        counts = self.counts.get((customer_key, branch_id))
        if counts is None:
            counts = self.counts[(customer_key, branch_id)] = array("l", bytes(
                array("l").itemsize * self._PER_MONTH * len(self._months)))
        counts[i * self._PER_MONTH + what] += n

    def add_order(self, o: OrderFact) -> None:
        cell = self._cell(o.customer_key, o.branch_id, o.placed_on) if o.is_revenue else None
        if cell is None:
            return
        cell.orders += 1
        cell.discounts += o.discount_total
        for line in o.lines:
            cell.revenue += line.revenue
            cell.lines += 1
            cost = line.cost
            if cost is not None:
                cell.cogs += cost
                cell.lines_costed += 1

    def add_message(self, customer_key: str, branch_id: str, on: date, channel: str, parts: int = 1) -> None:
        """A message sent: an email, or an SMS of `parts` parts."""
        if channel == "email":
            self._count(customer_key, branch_id, on, 1, 1)
        else:
            self._count(customer_key, branch_id, on, 0, parts)

    def add_complaint(self, customer_key: str, branch_id: str, on: date) -> None:
        self._count(customer_key, branch_id, on, 2, 1)

    def _all(self) -> Iterator[tuple[tuple[str, str, str], _Money]]:
        """Every (customer, branch, month) with anything in it, in key order, with its money and counts."""
        keys = set(self.cells)
        for (c, b), counts in self.counts.items():
            for i, m in enumerate(self._months):
                if any(counts[i * self._PER_MONTH:(i + 1) * self._PER_MONTH]):
                    keys.add((c, b, m))
        for c, b, m in sorted(keys):
            found = self.cells.get((c, b, m))
            money = _Money() if found is None else dataclasses.replace(found)
            kept = self.counts.get((c, b))
            if kept is not None:
                i = self._index[m] * self._PER_MONTH
                money.sms, money.emails, money.complaints = kept[i], kept[i + 1], kept[i + 2]
            yield (c, b, m), money

    def rows(self) -> Iterator[dict[str, Any]]:
        """The export's `profitability` dataset: one row per customer, branch and month with anything in it."""
        for (c, b, m), money in self._all():
            yield {"customer_key": c, "branch_id": b, "month": m, **money.row(self.prices)}

    def months(self) -> list[str]:
        out, month = [], self.first
        while month <= self.last:
            out.append(month)
            month = _add_months(month, 1)
        return out

    def branches(self) -> dict[str, list[dict[str, Any]]]:
        """Per branch with anything in the months, every one of the months (oldest first; an empty month is zeros)
        summed over customers."""
        months: dict[tuple[str, str], _Money] = defaultdict(_Money)
        for (_, b, m), money in self._all():
            months[(b, m)].add(money)
        return {b: [{"month": m, **months.get((b, m), _Money()).row(self.prices)} for m in self._months]
                for b in sorted({b for b, _ in months})}

    def customer_value(self, top: int) -> dict[str, list[dict[str, Any]]]:
        """Per branch, the `top` customers by historical value (profit over the months, in that branch)."""
        per: dict[tuple[str, str], _Money] = defaultdict(_Money)
        for (c, b, _), money in self._all():
            per[(b, c)].add(money)
        ranked: dict[str, list[tuple[Decimal, str, _Money]]] = defaultdict(list)
        for (b, c), money in per.items():
            ranked[b].append((money.profit(self.prices), c, money))
        return {b: [{"customer_key": c, "value": money_text(value), "revenue": money_text(m.revenue),
                     "orders": m.orders, "cost_coverage": _ratio(m.lines_costed / m.lines) if m.lines else None}
                    for value, c, m in sorted(rows, key=lambda r: (-r[0], r[1]))[:top]]
                for b, rows in sorted(ranked.items())}


# --------------------------------------------------------------------------
# Products bought together
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class BasketThresholds:
    min_support: float = 0.005
    min_orders: int = 10  # orders holding the whole itemset
    min_confidence: float = 0.2
    min_lift: float = 1.2
    max_size: int = 3
    top: int = 100
    sku_min_orders: int = 2000  # a scope this big gets SKU rules too


def frequent_itemsets(baskets: list[frozenset[str]], t: BasketThresholds) -> dict[frozenset[str], int]:
    """Apriori: each level counts only candidates whose every subset was frequent."""
    n = len(baskets)
    needed = max(t.min_orders, t.min_support * n)
    counts: dict[frozenset[str], int] = defaultdict(int)
    for b in baskets:
        for item in b:
            counts[frozenset((item,))] += 1
    frequent = {s: k for s, k in counts.items() if k >= needed}
    level = set(frequent)
    for size in range(2, t.max_size + 1):
        items = sorted({i for s in level for i in s})
        if len(items) < size:
            break
        counts = defaultdict(int)
        for b in baskets:
            kept = sorted(i for i in b if frozenset((i,)) in frequent)
            for combo in combinations(kept, size):
                candidate = frozenset(combo)
                if all(frozenset(sub) in level for sub in combinations(combo, size - 1)):
                    counts[candidate] += 1
        level = {s for s, k in counts.items() if k >= needed}
        frequent.update({s: counts[s] for s in level})
        if not level:
            break
    return frequent


def association_rules(baskets: list[frozenset[str]], t: BasketThresholds) -> list[dict[str, Any]]:
    """Rules X -> y (one item on the right) with support, confidence and lift over the thresholds; the `top` by lift
    (then support, then the items' names)."""
    n = len(baskets)
    if not n:
        return []
    frequent = frequent_itemsets(baskets, t)
    rules: list[dict[str, Any]] = []
    for itemset, together in frequent.items():
        if len(itemset) < 2:
            continue
        for consequent in itemset:
            antecedent = itemset - {consequent}
            confidence = together / frequent[antecedent]
            lift = confidence / (frequent[frozenset((consequent,))] / n)
            if confidence >= t.min_confidence and lift >= t.min_lift:
                rules.append({"antecedent": sorted(antecedent), "consequent": consequent, "orders": together,
                              "support": _ratio(together / n), "confidence": _ratio(confidence), "lift": _ratio(lift)})
    rules.sort(key=lambda r: (-float(r["lift"]), -float(r["support"]), r["antecedent"], r["consequent"]))
    return rules[:t.top]


class Baskets:
    """The revenue orders of the last `days` days as baskets of categories and of SKUs, per branch."""

    def __init__(self, as_of: date, days: int) -> None:
        self.since = as_of - timedelta(days=days - 1)
        self.as_of = as_of
        self.by_branch: dict[str, list[tuple[frozenset[str], frozenset[str]]]] = defaultdict(list)

    def add_order(self, o: OrderFact) -> None:
        if o.is_revenue and self.since <= o.placed_on <= self.as_of and o.lines:
            self.by_branch[o.branch_id].append((frozenset(line.category for line in o.lines),
                                                frozenset(line.sku for line in o.lines)))

    def rules(self, t: BasketThresholds) -> list[dict[str, Any]]:
        """The export's `basket_rules` dataset: per scope ("all" and each branch) and level (category, sku)."""
        scopes = {"all": [b for rows in self.by_branch.values() for b in rows], **self.by_branch}
        out = []
        for scope in sorted(scopes, key=lambda s: (s != "all", s)):
            rows = scopes[scope]
            levels = [("category", [c for c, _ in rows])]
            if len(rows) >= t.sku_min_orders:
                levels.append(("sku", [s for _, s in rows]))
            for level, baskets in levels:
                for rank, rule in enumerate(association_rules(baskets, t), start=1):
                    out.append({"scope": scope, "level": level, "rank": rank, "baskets": len(baskets), **rule})
        return out


# --------------------------------------------------------------------------
# Abnormal transactions
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class FlagRules:
    days: int = 30  # orders placed in the last `days` days are checked
    history: int = 20  # a customer's own previous orders the amount is compared with
    min_history: int = 5  # ... at least this many
    robust_z: float = 3.5
    # the spread (MAD) taken as at least this share of the median: a customer who paid nearly the same each time
    # is not flagged for a few percent more
    min_spread: float = 0.1
    velocity_orders: int = 3  # this many orders of one customer within 24 hours
    shared_phone_days: int = 7  # one phone on two or more customers' orders within this many days
    max_discount_share: Decimal = Decimal("0.30")  # of the list value
    quick_return_days: int = 7


FLAG_REASONS = ("amount_unusual", "velocity", "shared_phone", "discount_over_limit", "price_below_cost",
                "quick_return", "changed_after_delivery", "staff_phone")


def _robust_z(x: float, history: list[float], min_spread: float) -> float:
    """0.6745 (x - median) / MAD, the MAD at least `min_spread` x median (so never 0 for a positive median)."""
    median = statistics.median(history)
    mad = max(statistics.median(abs(h - median) for h in history), min_spread * abs(median))
    if mad:
        return MAD_TO_SIGMA * (x - median) / mad
    return 0.0 if x == median else (float("inf") if x > median else float("-inf"))


class TransactionFlags:
    """Orders fed oldest first (the `orders_all` index's order); the ones placed in the `rules.days` up to `as_of`
    are checked, the older ones are only history. Memory: per customer its last `rules.history` amounts and the
    times of its orders of the last 24 hours, per phone those of the last `rules.shared_phone_days` (the orders
    themselves only while they can be flagged); not all orders.

    All orders count (cancelled and returned ones too: velocity and shared phones are about attempts); only
    revenue orders are an amount's history and have their amount checked."""

    def __init__(self, as_of: date, rules: FlagRules) -> None:
        self.as_of, self.rules = as_of, rules
        self.since = as_of - timedelta(days=rules.days - 1)
        self.amounts: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=rules.history))
        # (when, customer, the order while it can still be flagged, else None: older orders are only counted)
        self.last_day: dict[str, deque[tuple[datetime, str, OrderFact | None]]] = defaultdict(deque)
        self.by_phone: dict[str, deque[tuple[datetime, str, OrderFact | None]]] = defaultdict(deque)
        self.flags: dict[tuple[str, str], dict[str, Any]] = {}

    def _checked(self, o: OrderFact) -> bool:
        return self.since <= o.placed_on <= self.as_of

    def _flag(self, o: OrderFact, reason: str, value: float | None, limit: float | None) -> None:
        if self._checked(o) and (o.order_key, reason) not in self.flags:
            self.flags[(o.order_key, reason)] = {
                "order_key": o.order_key, "customer_key": o.customer_key, "branch_id": o.branch_id,
                "placed_on": o.placed_on.isoformat(), "placed_at": o.placed_at, "reason": reason,
                "value": None if value is None else _ratio(value), "limit": limit,
                "net_total": money_text(o.net_total), "order_id": o.order_id}

    def add(self, o: OrderFact) -> None:
        r, at = self.rules, _at(o.placed_at)
        history = self.amounts[o.customer_key]
        if self._checked(o) and o.is_revenue and len(history) >= r.min_history:
            z = _robust_z(float(o.net_total), list(history), r.min_spread)
            if abs(z) > r.robust_z:
                self._flag(o, "amount_unusual", max(min(z, 999.0), -999.0), r.robust_z)
        if o.is_revenue:
            history.append(float(o.net_total))
        kept = o if self._checked(o) else None
        day = self.last_day[o.customer_key]
        while day and at - day[0][0] >= timedelta(hours=24):
            day.popleft()
        day.append((at, o.customer_key, kept))
        if len(day) >= r.velocity_orders:  # every order of the burst is looked at
            for _, _, p in day:
                if p is not None:
                    self._flag(p, "velocity", len(day), r.velocity_orders)
        if o.phone_key:
            window, recent = timedelta(days=r.shared_phone_days), self.by_phone[o.phone_key]
            while recent and at - recent[0][0] >= window:
                recent.popleft()
            recent.append((at, o.customer_key, kept))
            customers = {c for _, c, _ in recent}
            if len(customers) > 1:
                for _, _, p in recent:
                    if p is not None:
                        self._flag(p, "shared_phone", len(customers), 2)
        if not self._checked(o):
            return
        # below list: a lower unit price and the discounts both (the price the customer got against the list)
        listed = sum((line.listed for line in o.lines), ZERO)
        given = listed - (o.subtotal - o.discount_total)
        if listed > 0 and given / listed > r.max_discount_share:
            self._flag(o, "discount_over_limit", float(given / listed), float(r.max_discount_share))
        below = [line for line in o.lines if line.cost is not None and line.revenue - line.discount_amount < line.cost]
        if below:
            self._flag(o, "price_below_cost", len(below), None)
        if o.returned_at:
            held = _at(o.returned_at) - _at(o.delivered_at or o.placed_at)
            if held <= timedelta(days=r.quick_return_days):
                self._flag(o, "quick_return", held.total_seconds() / 86400, r.quick_return_days)
        if o.changed_after_delivery:
            self._flag(o, "changed_after_delivery", None, None)
        if o.placed_with_staff_phone:
            self._flag(o, "staff_phone", None, None)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (order, reason), oldest order first."""
        return sorted(self.flags.values(),
                      key=lambda f: (f["placed_at"], f["order_key"], FLAG_REASONS.index(f["reason"])))


# --------------------------------------------------------------------------
# Forecast
# --------------------------------------------------------------------------

@dataclass
class MonthlyRevenue:
    """Net revenue (after discounts, before tax) of revenue orders per branch and month."""

    months: dict[str, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Decimal)))

    def add_order(self, o: OrderFact) -> None:
        if o.is_revenue:
            self.months[o.branch_id][month_of(o.placed_on)] += o.net_revenue


def _seasonal(series: Mapping[str, Decimal], month: str) -> Decimal | None:
    back = _add_months(month, -12)
    return series.get(back, ZERO) if back >= min(series, default=month) else None


def _moving(series: Mapping[str, Decimal], month: str, window: int = 3) -> Decimal | None:
    before = [_add_months(month, -k) for k in range(1, window + 1)]
    if before[-1] < min(series, default=month):
        return None
    return sum((series.get(m, ZERO) for m in before), ZERO) / window


def _mape(series: Mapping[str, Decimal], months: list[str], method: Any) -> float | None:
    errors = [abs(float(series.get(m, ZERO) - method(series, m))) / float(series.get(m, ZERO)) for m in months]
    return _ratio(statistics.fmean(errors)) if errors else None


def forecast(revenue: MonthlyRevenue, as_of: date, *, ahead: int = 3, backtest: int = 6) -> list[dict[str, Any]]:
    """Per branch: the months ahead after the last complete month (the day's month counts once the day is its last),
    by both methods, the backtest MAPE of each over the `backtest` months up to the last complete one (a forecast of
    each from the months before it), and which is shown (the lower MAPE; a method with no backtest loses)."""
    last_complete = month_of(as_of) if (as_of + timedelta(days=1)).day == 1 else _add_months(month_of(as_of), -1)
    tested = [_add_months(last_complete, -k) for k in range(backtest - 1, -1, -1)]
    rows = []
    for branch in sorted(revenue.months):
        series = {m: v for m, v in revenue.months[branch].items() if m <= last_complete}
        if not series:
            continue
        # months with revenue (a percentage of nothing is no error) that a method forecasts; the two are compared
        # over the months both forecast, so neither wins by being tested on easier months
        has_moving = [m for m in tested if series.get(m, ZERO) > 0 and _moving(series, m) is not None]
        both = [m for m in has_moving if _seasonal(series, m) is not None]
        seasonal_mape = _mape(series, both, _seasonal)
        moving_mape = _mape(series, both if both else has_moving, _moving)
        # the seasonal naive only when its error is lower (the moving average needs less history: it wins ties)
        seasonal_wins = seasonal_mape is not None and moving_mape is not None and seasonal_mape < moving_mape
        chosen = "seasonal_naive" if seasonal_wins else "moving_average"
        backtested = len(both) if both else len(has_moving)
        extended: dict[str, Decimal] = dict(series)
        for k in range(1, ahead + 1):
            month = _add_months(last_complete, k)
            seasonal = _seasonal(series, month)
            # months 2 and 3 ahead average the forecasts before them; without those, nothing
            moving = _moving(extended, month) if _add_months(month, -1) in extended or k == 1 else None
            if moving is not None:
                extended[month] = moving
            value = seasonal if chosen == "seasonal_naive" else moving
            rows.append({"branch_id": branch, "month": month, "method": chosen,
                         "forecast": money_text(value.quantize(ZERO)) if value is not None else None,
                         "seasonal_naive": money_text(seasonal.quantize(ZERO)) if seasonal is not None else None,
                         "moving_average": money_text(moving.quantize(ZERO)) if moving is not None else None,
                         "mape_seasonal_naive": seasonal_mape, "mape_moving_average": moving_mape,
                         "backtest_months": backtested})
    return rows


def actuals(revenue: MonthlyRevenue, months: int, as_of: date) -> dict[str, list[dict[str, Any]]]:
    """Per branch, the `months` up to the day's month (the last one possibly partial) for the chart next to it."""
    last = month_of(as_of)
    wanted = [_add_months(last, -k) for k in range(months - 1, -1, -1)]
    return {b: [{"month": m, "net_revenue": money_text(series.get(m, ZERO).quantize(ZERO))} for m in wanted]
            for b, series in sorted(revenue.months.items())}


# --------------------------------------------------------------------------
# From the export's rows
# --------------------------------------------------------------------------

def _money(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(ZERO)


def order_fact(order: Mapping[str, Any], lines: Iterable[Mapping[str, Any]], order_id: str | None = None) -> OrderFact:
    """An order as the analyses read it, from its exported `orders` row and `order_lines` rows (so what the files
    say is what was analysed); `order_id` only for the API's managers."""
    return OrderFact(
        order_key=str(order["order_key"]), customer_key=str(order["customer_key"]), branch_id=str(order["branch_id"]),
        placed_at=str(order["placed_at"]), placed_on=date.fromisoformat(str(order["placed_on"])),
        is_revenue=bool(order["is_revenue"]), net_total=_money(order["net_total"]) or ZERO,
        discount_total=_money(order["discount_total"]) or ZERO,
        lines=tuple(LineFact(sku=str(x["sku"]), category=str(x["category"]), qty=Decimal(str(x["qty"])),
                             unit_price=_money(x["unit_price"]) or ZERO,
                             discount_amount=_money(x["discount_amount"]) or ZERO,
                             list_price=_money(x.get("list_price")), cost_price=_money(x.get("cost_price")))
                    for x in lines),
        delivered_at=order.get("delivered_at"), returned_at=order.get("returned_at"), phone_key=order.get("phone_key"),
        placed_with_staff_phone=bool(order.get("placed_with_staff_phone")),
        changed_after_delivery=bool(order.get("changed_after_delivery")), order_id=order_id)
