"""The money analyses (chalicelib/domain/finance.py) on hand-made facts: planted anomalies, known baskets, series
whose forecasts are known, and profits worked out by hand."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from chalicelib.config import CostToServe
from chalicelib.domain import finance as fin

AS_OF = date(2026, 11, 30)
PRICES = CostToServe(sms_price=350, email_price=15, complaint_cost=75_000)


def _line(sku: str = "OIL", category: str = "oil_and_filter", qty: str = "1", price: str = "100000.00",
          discount: str = "0.00", list_price: str | None = None, cost: str | None = "60000.00") -> fin.LineFact:
    return fin.LineFact(sku=sku, category=category, qty=Decimal(qty), unit_price=Decimal(price),
                        discount_amount=Decimal(discount), list_price=Decimal(list_price or price),
                        cost_price=None if cost is None else Decimal(cost))


def _order(n: int, customer: str, at: datetime, total: str = "111000.00", *, lines: tuple[fin.LineFact, ...] = (),
           discount: str = "0.00", revenue: bool = True, phone: str | None = None, **kw: object) -> fin.OrderFact:
    return fin.OrderFact(order_key=f"o{n:06d}", customer_key=customer, branch_id="jakarta",
                         placed_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"), placed_on=at.date(), is_revenue=revenue,
                         net_total=Decimal(total), discount_total=Decimal(discount), lines=lines or (_line(),),
                         phone_key=phone or f"phone-{customer}", **kw)  # type: ignore[arg-type]


def _at(days_ago: float, hour: int = 10) -> datetime:
    return datetime(AS_OF.year, AS_OF.month, AS_OF.day, hour, tzinfo=UTC) - timedelta(days=days_ago)


def test_every_planted_anomaly_is_flagged_with_its_reason_and_at_most_half_a_percent_of_the_rest() -> None:
    rng = random.Random(17)
    orders: list[fin.OrderFact] = []
    n = 0
    # 1,000 ordinary customers: 8-12 orders each over a year on days at least 2 apart, amounts around their own
    # level (some evenly spread, some log-normal), discounts up to 25% of list now and then, a second order the
    # same day now and then, returns long after delivery now and then
    for c in range(1000):
        level = rng.choice([95_000, 250_000, 650_000, 1_500_000])
        spread = rng.random() < 0.5
        for day in rng.sample(range(0, 360, 2), rng.randint(8, 12)):
            n += 1
            at = _at(day, rng.randint(8, 14))
            factor = rng.uniform(0.75, 1.3) if spread else rng.lognormvariate(0, 0.15)
            amount = Decimal(str(round(level * factor, 2)))
            discount = Decimal(str(round(float(amount) * rng.choice([0, 0, 0, 0.05, 0.1, 0.25]), 2)))
            extra = {}
            if rng.random() < 0.03:
                extra = {"delivered_at": (at + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "returned_at": (at + timedelta(days=rng.randint(10, 30))).strftime("%Y-%m-%dT%H:%M:%SZ")}
            orders.append(_order(n, f"c{c}", at, str(amount), discount=str(discount), **extra,
                                 lines=(_line(price=str(amount), cost=str(round(float(amount) * 0.6, 2))),)))
            if rng.random() < 0.05:
                n += 1
                orders.append(_order(n, f"c{c}", at + timedelta(hours=3), str(amount),
                                     lines=(_line(price=str(amount), cost=str(round(float(amount) * 0.6, 2))),)))
    planted: dict[str, str] = {}

    def plant(reason: str, fact: fin.OrderFact) -> None:
        orders.append(fact)
        planted[fact.order_key] = reason

    base = 900_000
    for k in range(12):  # a customer with a steady history, then one order 20 times larger
        orders.append(_order(base + k, "steady", _at(300 - k * 20), "100000.00"))
    plant("amount_unusual", _order(base + 99, "steady", _at(3), "2000000.00"))
    for k in range(3):  # three orders in 5 hours
        orders.append(_order(base + 200 + k, "rapid", _at(400 + k)))  # their history, long ago
    plant("velocity", _order(base + 209, "rapid", _at(5, 8)))  # every order of the burst, the first too
    plant("velocity", _order(base + 210, "rapid", _at(5, 9)))
    plant("velocity", _order(base + 211, "rapid", _at(5, 12)))
    plant("shared_phone", _order(base + 300, "p1", _at(10), phone="shared"))
    plant("shared_phone", _order(base + 301, "p2", _at(8), phone="shared"))
    plant("discount_over_limit", _order(base + 400, "d1", _at(4), "60000.00", discount="40000.00",
                                        lines=(_line(price="100000.00", discount="40000.00"),)))
    plant("price_below_cost", _order(base + 500, "b1", _at(6), lines=(_line(price="50000.00", cost="60000.00"),)))
    plant("quick_return", _order(base + 600, "r1", _at(9), delivered_at=_at(8).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                 returned_at=_at(5).strftime("%Y-%m-%dT%H:%M:%SZ"), revenue=False))
    plant("changed_after_delivery", _order(base + 700, "a1", _at(12), changed_after_delivery=True))
    plant("staff_phone", _order(base + 800, "s1", _at(2), placed_with_staff_phone=True))

    flags = fin.TransactionFlags(AS_OF, fin.FlagRules())
    for fact in sorted(orders, key=lambda o: (o.placed_at, o.order_key)):
        flags.add(fact)
    found = {(f["order_key"], f["reason"]) for f in flags.rows()}
    for order_key, reason in planted.items():
        assert (order_key, reason) in found, (order_key, reason)
    checked = [o for o in orders if AS_OF - timedelta(days=29) <= o.placed_on <= AS_OF and o.order_key not in planted
               and o.customer_key not in ("steady", "rapid")]
    false = {k for k, _ in found} & {o.order_key for o in checked}
    assert len(checked) > 800
    assert len(false) <= 0.005 * len(checked), sorted(r for r in found if r[0] in false)


def test_an_order_outside_the_window_is_history_only_and_a_flag_says_what_made_it() -> None:
    flags = fin.TransactionFlags(AS_OF, fin.FlagRules())
    for fact in (_order(1, "x", _at(40), lines=(_line(price="10.00", cost="60000.00"),)),
                 _order(2, "x", _at(1), lines=(_line(price="100000.00", discount="50000.00"),),
                        discount="50000.00", total="55500.00")):
        flags.add(fact)
    rows = flags.rows()
    # half off: over the limit, and below the cost of 60,000 too
    assert [(r["order_key"], r["reason"], r["value"], r["limit"]) for r in rows] == [
        ("o000002", "discount_over_limit", 0.5, 0.3), ("o000002", "price_below_cost", 1, None)]


def test_a_unit_price_below_list_counts_as_discount_and_a_line_discount_can_sell_below_cost() -> None:
    flags = fin.TransactionFlags(AS_OF, fin.FlagRules())
    flags.add(_order(1, "x", _at(1), lines=(_line(price="65000.00", list_price="100000.00", cost="50000.00"),)))
    flags.add(_order(2, "y", _at(1), lines=(_line(price="100000.00", discount="45000.00", cost="60000.00"),),
                     discount="45000.00"))
    assert {(r["order_key"], r["reason"]) for r in flags.rows()} == {
        ("o000001", "discount_over_limit"), ("o000002", "discount_over_limit"), ("o000002", "price_below_cost")}


def _baskets(spec: list[tuple[int, tuple[str, ...]]]) -> list[frozenset[str]]:
    return [frozenset(items) for n, items in spec for _ in range(n)]


def test_association_rules_have_the_support_confidence_and_lift_worked_out_by_hand() -> None:
    # 1000 orders: oil+filter 120 times, oil alone 280, filter alone 30, tyre+oil+filter 40, tyre alone 530
    baskets = _baskets([(120, ("oil", "filter")), (280, ("oil",)), (30, ("filter",)),
                        (40, ("tyre", "oil", "filter")), (530, ("tyre",))])
    rules = {(tuple(r["antecedent"]), r["consequent"]): r for r in fin.association_rules(baskets, fin.BasketThresholds())}
    # filter: 190 orders, oil: 440, both 160 -> filter->oil confidence 160/190, lift (160/190)/(440/1000)
    r = rules[(("filter",), "oil")]
    assert (r["orders"], r["support"], r["confidence"]) == (160, 0.16, round(160 / 190, 6))
    assert r["lift"] == round((160 / 190) / 0.44, 6)
    assert rules[(("oil",), "filter")]["confidence"] == round(160 / 440, 6)
    # tyre and oil together are rarer than apart (lift < 1.2): no rule either way
    assert (("tyre",), "oil") not in rules and (("oil",), "tyre") not in rules
    # the triple: {filter, tyre} -> oil holds (40 of 40), lift 1/0.44
    assert rules[(("filter", "tyre"), "oil")]["confidence"] == 1.0
    lifts = [r["lift"] for r in fin.association_rules(baskets, fin.BasketThresholds())]
    assert lifts == sorted(lifts, reverse=True)


def test_rules_need_ten_orders_and_half_a_percent_of_baskets() -> None:
    few = _baskets([(9, ("a", "b")), (300, ("c",))])
    assert fin.association_rules(few, fin.BasketThresholds()) == []
    enough = _baskets([(10, ("a", "b")), (300, ("c",))])
    assert {r["consequent"] for r in fin.association_rules(enough, fin.BasketThresholds())} == {"a", "b"}


def test_sku_rules_only_for_scopes_with_enough_orders() -> None:
    b = fin.Baskets(AS_OF, 180)
    for n in range(30):
        b.add_order(_order(n, f"c{n}", _at(n), lines=(_line(sku="OIL-1"), _line(sku="FLT-1", category="filter"))))
        b.add_order(_order(100 + n, f"c{n}", _at(n), lines=(_line(sku="TYR-1", category="tyre"),)))
    b.add_order(_order(999, "old", _at(200), lines=(_line(sku="OIL-1"),)))  # older than 180 days: left out
    rules = b.rules(fin.BasketThresholds())
    assert {(r["scope"], r["level"]) for r in rules} == {("all", "category"), ("jakarta", "category")}
    assert all(r["baskets"] == 60 for r in rules)
    assert {r["scope"] for r in b.rules(fin.BasketThresholds(sku_min_orders=60)) if r["level"] == "sku"} == {
        "all", "jakarta"}


def _month_orders(values: dict[str, int]) -> fin.MonthlyRevenue:
    revenue = fin.MonthlyRevenue()
    for n, (month, value) in enumerate(sorted(values.items())):
        day = datetime(int(month[:4]), int(month[5:]), 15, tzinfo=UTC)
        revenue.add_order(_order(n, "c", day, lines=(_line(price=f"{value}.00"),)))
    return revenue


def test_a_seasonal_series_is_forecast_by_seasonal_naive_with_both_errors() -> None:
    # 2 years with a strong December peak; the months' pattern repeats exactly
    pattern = [100, 90, 95, 110, 120, 100, 105, 115, 100, 110, 130, 300]
    values = {f"{2024 + (k // 12)}-{k % 12 + 1:02d}": pattern[k % 12] * 1000 for k in range(23)}  # to 2025-11
    rows = fin.forecast(_month_orders(values), date(2025, 11, 30))
    assert [r["month"] for r in rows] == ["2025-12", "2026-01", "2026-02"]
    assert {r["method"] for r in rows} == {"seasonal_naive"}
    assert rows[0]["forecast"] == "300000.00" and rows[0]["mape_seasonal_naive"] == 0.0
    assert rows[0]["mape_moving_average"] > 0
    assert rows[0]["moving_average"] == "113333.33"  # (September 100 + October 110 + November 130) / 3
    assert rows[0]["backtest_months"] == 6


def test_a_young_series_has_only_the_moving_average() -> None:
    values = {"2026-06": 100_000, "2026-07": 120_000, "2026-08": 110_000, "2026-09": 130_000, "2026-10": 120_000}
    rows = fin.forecast(_month_orders(values), date(2026, 11, 15))  # November is not complete: October is the last
    assert [r["month"] for r in rows] == ["2026-11", "2026-12", "2027-01"]
    assert {r["method"] for r in rows} == {"moving_average"}
    assert rows[0]["seasonal_naive"] is None and rows[0]["mape_seasonal_naive"] is None
    assert rows[0]["forecast"] == "120000.00"  # (110 + 130 + 120) / 3
    # moving average backtest: Aug 110 vs (100+120)/3... only months with 3 before count
    assert rows[0]["backtest_months"] == 2
    # months 2 and 3 ahead average the forecasts before them
    assert rows[1]["moving_average"] == "123333.33" and rows[2]["forecast"] == "121111.11"


def test_a_series_too_young_for_any_baseline_forecasts_nothing_rather_than_zeros() -> None:
    rows = fin.forecast(_month_orders({"2026-09": 90_000, "2026-10": 60_000}), date(2026, 11, 15))
    assert [(r["month"], r["forecast"], r["moving_average"]) for r in rows] == [
        ("2026-11", None, None), ("2026-12", None, None), ("2027-01", None, None)]
    assert rows[0]["backtest_months"] == 0 and rows[0]["mape_moving_average"] is None


def test_profit_is_revenue_minus_discounts_cost_of_goods_and_cost_to_serve_with_coverage() -> None:
    p = fin.Profitability(AS_OF, 24, PRICES)
    p.add_order(_order(1, "c", _at(3), lines=(_line(qty="2", price="100000.00", cost="60000.00"),
                                              _line(sku="X", price="50000.00", cost=None)), discount="10000.00"))
    p.add_order(_order(2, "c", _at(4), revenue=False))  # cancelled: nothing
    p.add_message("c", "jakarta", _at(2).date(), "sms", parts=2)
    p.add_message("c", "jakarta", _at(2).date(), "email")
    p.add_complaint("c", "jakarta", _at(1).date())
    p.add_order(_order(3, "c", _at(800)))  # older than 24 months: left out
    [row] = p.rows()
    assert (row["month"], row["revenue"], row["discounts"], row["cogs"]) == ("2026-11", "250000.00", "10000.00",
                                                                            "120000.00")
    assert row["cost_to_serve"] == "75715.00"  # 2 x 350 + 15 + 75,000
    assert row["profit"] == "44285.00" and row["cost_coverage"] == 0.5
    [top] = p.customer_value(10)["jakarta"]
    assert (top["customer_key"], top["value"], top["orders"]) == ("c", "44285.00", 1)


def test_ids_go_to_admins_and_to_managers_about_their_own_branch_only() -> None:
    from chalicelib.domain.access import Principal, Role, authorize
    from chalicelib.services.analytics import _names_records

    def access(*roles: Role) -> object:
        return authorize(Principal(sub="s", username="u", roles=frozenset(roles), branch="jakarta"), "analytics.money")

    assert _names_records(access(Role.ADMIN), ["jakarta", "surabaya"])  # type: ignore[arg-type]
    assert _names_records(access(Role.MANAGER), ["jakarta"])  # type: ignore[arg-type]
    # an analyst who also manages a branch sees every branch: pseudonyms, not ids
    assert not _names_records(access(Role.ANALYST, Role.MANAGER), ["jakarta", "surabaya"])  # type: ignore[arg-type]
    assert not _names_records(access(Role.ANALYST), ["jakarta"])  # type: ignore[arg-type]


def test_the_routes_flag_reasons_are_the_domains() -> None:
    from typing import get_args

    from chalicelib.api.analytics_models import FlagReason

    assert get_args(FlagReason) == fin.FLAG_REASONS


def test_what_follows_a_delivery_is_not_a_change_after_it_and_a_payment_taken_back_is() -> None:
    from chalicelib.domain import orders as rules

    line = rules.line_of(1, rules.NewLine(sku="X", qty=Decimal(1)), name="X", unit="pcs", list_price=Decimal(100))
    totals = rules.totals_of([line])
    order = rules.Order(id="o", order_no="N", customer_id="c", branch_id="jakarta", channel="showroom",
                        status="draft", payment_status="unpaid", lines=[line], subtotal=totals.subtotal,
                        discount_total=totals.discount_total, tax_total=totals.tax_total, net_total=totals.net_total,
                        placed_at="2026-11-01T00:00:00Z", updated_at="2026-11-01T00:00:00Z", created_by="s")
    t = datetime(2026, 11, 1, tzinfo=UTC)
    for n, status in enumerate(("confirmed", "shipped", "delivered"), start=1):
        order = rules.transition(order, status, by="s", now=t + timedelta(hours=n))
    order = rules.pay(order, "partial", by="s", now=t + timedelta(days=1))  # a first instalment
    order = rules.pay(order, "paid", by="s", now=t + timedelta(days=2))
    order = rules.transition(order, "closed", by="s", now=t + timedelta(days=3))
    assert order.changed_after_delivery_at is None
    taken_back = rules.pay(order, "partial", by="s", now=t + timedelta(days=4))
    assert taken_back.changed_after_delivery_at == taken_back.history[-1].at
