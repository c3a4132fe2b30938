"""The money analyses end to end: orders through the HTTP API (and 15 months of older ones loaded as the demo data
is), the export, then every analysis recomputed with DuckDB straight from the exported files, compared with the
analysis datasets and with what GET /analytics/profitability, /basket, /transaction-flags and /forecast answer.

Runs on the session's local stack, whose table holds every other test's data too: DuckDB recomputes over the
whole export, so the comparison holds whatever else is in it.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import unique_phone
from tests.test_analytics_export import export, today

pytestmark = pytest.mark.usefixtures("stack")

BRANCH = "jakarta"
# The oil change is sold as a package here: the other modules' orders (every worker's table holds them) are all
# oil_and_filter, and a rule on a category in nearly every basket has no lift in the every-branch scope.
PRODUCTS = (("FIN-OIL", "Paket ganti oli fin", "service_package", "100000", "60000"),
            ("FIN-FILTER", "Filter fin", "spare_part", "50000", "30000"),
            ("FIN-WAX", "Wax fin", "accessory", "80000", None),  # no cost price: lowers the coverage
            ("FIN-BRAKE", "Kampas rem fin", "spare_part", "200000", "150000"))


def _patch(caller: Any, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
    current = caller.get(f"/orders/{order_id}")
    answer = caller.patch(f"/orders/{order_id}", body, headers={"If-Match": current.headers["ETag"]})
    assert answer.status_code == 200, answer.body
    return dict(answer.json)


def _order(caller: Any, customer: dict[str, Any], lines: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    answer = caller.post(f"/customers/{customer['id']}/orders", {"channel": "showroom", "lines": lines, **extra})
    assert answer.status_code == 201, answer.body
    return dict(answer.json)


def _deliver(caller: Any, order: dict[str, Any]) -> dict[str, Any]:
    for status in ("confirmed", "shipped", "delivered"):
        order = _patch(caller, order["id"], {"status": status})
    return order


def _history(customers: list[dict[str, Any]], now: datetime) -> int:
    """Orders of the last 15 months for these customers, loaded as `make run` loads its demo data: each month
    per customer an oil order, December three times as much, a filter with the oil every other time."""
    from chalicelib.domain import orders as rules
    from chalicelib.domain.clock import iso, new_id
    from chalicelib.persistence import orders as repo
    from chalicelib.persistence import products

    catalog = products.get_many([sku for sku, *_ in PRODUCTS])
    made = []
    for c, customer in enumerate(customers):
        for months_back in range(1, 16):
            placed = (now.replace(day=10, hour=3) - timedelta(days=30.4 * months_back)).replace(microsecond=0)
            skus = ["FIN-OIL"] + (["FIN-FILTER"] if (months_back + c) % 2 else [])
            qty = Decimal(3 if placed.month == 12 else 1)
            lines = [rules.line_of(n, rules.NewLine(sku=s, qty=qty, tax_rate=Decimal("0.11")), name=catalog[s].name,
                                   unit=catalog[s].unit, list_price=catalog[s].list_price,
                                   category=catalog[s].category, cost_price=catalog[s].cost_price)
                     for n, s in enumerate(skus, start=1)]
            totals = rules.totals_of(lines)
            stamp = iso(placed)
            order = rules.Order(
                id=new_id(placed), order_no=f"FIN-{new_id(placed)[-8:]}", customer_id=customer["id"],
                branch_id=BRANCH, channel="showroom", status="draft", payment_status="unpaid", lines=lines,
                subtotal=totals.subtotal, discount_total=totals.discount_total, tax_total=totals.tax_total,
                net_total=totals.net_total, placed_at=stamp, updated_at=stamp, created_by="history",
                contact_phone=customer["phone"],
                history=[rules.HistoryEntry(at=stamp, by="history", change="created", to_value="draft")])
            for step in ("confirmed", "shipped", "delivered", "closed"):
                placed += timedelta(hours=5)
                order = rules.transition(order, step, by="history", now=placed)
            made.append(order)
    repo.load(made)
    return len(made)


@pytest.fixture(scope="module")
def planted(as_user: Any, catalog: Any) -> dict[str, Any]:
    from infra.demo import phone_of

    admin, agent = as_user("admin"), as_user(f"agent.{BRANCH}")
    for sku, name, category, price, cost in PRODUCTS:
        body = {"sku": sku, "name": name, "category": category, "unit": "pcs", "list_price": price}
        if cost:
            body["cost_price"] = cost
        made = admin.post("/products", body)
        assert made.status_code in (201, 409), made.body
    stamp = str(time.time_ns())[-9:]
    people = [admin.new_customer(name=f"Dewi Fin{stamp}x{n}", branch_id=BRANCH) for n in range(6)]
    loaded = _history(people[:4], datetime.now(UTC))
    oil, flt, brake = ({"sku": "FIN-OIL", "qty": 1}, {"sku": "FIN-FILTER", "qty": 1}, {"sku": "FIN-BRAKE", "qty": 1})
    orders: dict[str, dict[str, Any]] = {}
    # bought together today: oil with filter
    for n in range(12):
        orders[f"together{n}"] = _deliver(admin, _order(admin, people[n % 4], [oil, flt]))
    for n in range(12):  # and wax alone (so oil is not in every basket: oil and filter go together more than by chance)
        orders["wax"] = _patch(admin, _order(admin, people[4 + n % 2], [{"sku": "FIN-WAX", "qty": 2}])["id"],
                               {"status": "confirmed"})
    # planted anomalies
    orders["discount"] = _order(admin, people[4], [{**brake, "discount_amount": "90000.00"}])  # 45% of list
    orders["below_cost"] = _order(admin, people[5], [{**brake, "unit_price": "120000.00"}])  # cost 150,000
    shared = unique_phone()
    orders["shared_a"] = _order(admin, people[4], [oil], contact_phone=shared)
    orders["shared_b"] = _order(admin, people[5], [oil], contact_phone=shared)
    orders["staff_phone"] = _order(agent, people[5], [flt], contact_phone=phone_of(f"agent.{BRANCH}"))
    returned = _deliver(admin, _order(admin, people[4], [flt]))
    orders["quick_return"] = _patch(admin, returned["id"], {"status": "returned", "return_reason": "damaged"})
    changed = _deliver(admin, _order(admin, people[5], [oil], promised_date=(today() + timedelta(days=5)).isoformat()))
    orders["changed"] = _patch(admin, changed["id"], {"payment_status": "paid"})  # what follows a delivery
    orders["changed"] = _patch(admin, changed["id"], {"promised_date": (today() + timedelta(days=9)).isoformat()})
    # people[0] has 15 monthly orders of about 111,000 behind them: one of 20 brakes is far from that
    orders["unusual"] = _patch(admin, _order(admin, people[0], [{**brake, "qty": 20}])["id"], {"status": "confirmed"})
    complaint = admin.post(f"/customers/{people[5]['id']}/complaints", {
        "category": "other", "severity": "low", "subject": "Filter leaks", "description": "It leaks"})
    assert complaint.status_code == 201, complaint.body
    return {"people": people, "orders": orders, "loaded": loaded}


@pytest.fixture(scope="module")
def files(planted: dict[str, Any], as_user: Any, stack: dict[str, str], tmp_path_factory: Any) -> Path:
    """Today's export, every dataset's parts as the manifests list them, in a directory per dataset."""
    analyst = as_user("analyst")
    deadline = time.monotonic() + 120  # a run of today another module started may still be going: after it
    while (run := analyst.get(f"/analytics/exports/{today().isoformat()}")).status_code == 200 \
            and run.json["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, run.json
        time.sleep(0.5)
    export(analyst, today())
    s3, bucket = boto3.client("s3"), stack["EXPORT_BUCKET"]
    root = tmp_path_factory.mktemp("export")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="exports/"):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if f"/dt={today().isoformat()}/" in key and key.endswith("_manifest.json") and "/_athena/" not in key \
                    and "/_facts/" not in key:
                manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                folder = root / manifest["dataset"]
                folder.mkdir()
                rows = 0
                for n, part in enumerate(manifest["parts"]):
                    body = s3.get_object(Bucket=bucket, Key=part["key"])["Body"].read()
                    (folder / f"part-{n:05d}.jsonl.gz").write_bytes(body)
                    rows += len(gzip.decompress(body).splitlines())
                assert rows == manifest["rows"]
    return root


@pytest.fixture(scope="module")
def db(files: Path) -> Any:
    """DuckDB with a view per exported dataset, its columns typed as the Glue tables type them."""
    import duckdb

    from chalicelib.domain.exports import DATASETS

    con = duckdb.connect()
    duck = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN",
            "decimal(18,2)": "DECIMAL(18,2)"}
    for name, columns in DATASETS.items():
        types = {c.name: duck.get(c.glue_type, "JSON") for c in columns}
        if not (files / name).is_dir() or not any((files / name).iterdir()):
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM (SELECT " + ", ".join(
                f"NULL::{t} AS \"{c}\"" for c, t in types.items()) + ") WHERE false")
            continue
        spec = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_json('{files / name}/*.jsonl.gz', "
                    f"format='newline_delimited', columns={{{spec}}})")
    return con


def _as_of_months() -> tuple[str, str]:
    last = today().strftime("%Y-%m")
    year, month = int(last[:4]), int(last[5:]) - 23
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}", last


def test_profitability_recomputed_from_the_files_equals_the_dataset_row_for_row(db: Any) -> None:
    from chalicelib.config import cost_to_serve

    first, last = _as_of_months()
    p = cost_to_serve()
    recomputed = db.execute(f"""
        WITH o AS (SELECT * FROM orders WHERE is_revenue AND substr(placed_on, 1, 7) BETWEEN '{first}' AND '{last}'),
        money AS (
            SELECT o.customer_key, o.branch_id, substr(o.placed_on, 1, 7) AS month, count(DISTINCT o.order_key) AS n,
                   sum(round(l.qty::DECIMAL(18, 3) * l.unit_price, 2)) AS revenue,
                   sum(CASE WHEN l.cost_price IS NULL THEN 0 ELSE round(l.qty::DECIMAL(18, 3) * l.cost_price, 2) END) AS cogs,
                   count(*) AS lines, count(l.cost_price) AS costed
            FROM o JOIN order_lines l USING (order_key) GROUP BY ALL),
        discounts AS (SELECT customer_key, branch_id, substr(placed_on, 1, 7) AS month, sum(discount_total) AS d
                      FROM o GROUP BY ALL),
        messages AS (
            SELECT n.customer_key, coalesce(n.branch_id, c.branch_id) AS branch_id, substr(n.occurred_on, 1, 7) AS month,
                   count(*) FILTER (WHERE n.channel <> 'email') AS sms, count(*) FILTER (WHERE n.channel = 'email') AS emails
            FROM notifications n JOIN customers c USING (customer_key) WHERE n.delivery = 'sent' GROUP BY ALL
            UNION ALL
            SELECT r.customer_key, r.branch_id, substr(r.sent_on, 1, 7),
                   sum(CASE WHEN k.channel = 'email' THEN 0 ELSE coalesce(r.parts, 1) END),
                   count(*) FILTER (WHERE k.channel = 'email')
            FROM campaign_recipients r JOIN campaigns k USING (campaign_id)
            JOIN customers c USING (customer_key)  -- the customers on file: an erased one's messages went with them
            WHERE r.sent_on IS NOT NULL GROUP BY ALL),
        messages_month AS (SELECT customer_key, branch_id, month, sum(sms) AS sms, sum(emails) AS emails
                           FROM messages WHERE month BETWEEN '{first}' AND '{last}' GROUP BY ALL),
        complaints_month AS (SELECT customer_key, branch_id, substr(created_on, 1, 7) AS month, count(*) AS complaints
                             FROM complaints WHERE substr(created_on, 1, 7) BETWEEN '{first}' AND '{last}' GROUP BY ALL),
        cells AS (SELECT customer_key, branch_id, month FROM money UNION SELECT customer_key, branch_id, month
                  FROM messages_month UNION SELECT customer_key, branch_id, month FROM complaints_month)
        SELECT cells.customer_key, cells.branch_id, cells.month, coalesce(money.n, 0), coalesce(money.revenue, 0),
               coalesce(discounts.d, 0), coalesce(money.cogs, 0), coalesce(mm.sms, 0), coalesce(mm.emails, 0),
               coalesce(cm.complaints, 0), coalesce(money.lines, 0), coalesce(money.costed, 0)
        FROM cells LEFT JOIN money USING (customer_key, branch_id, month)
        LEFT JOIN discounts USING (customer_key, branch_id, month)
        LEFT JOIN messages_month mm USING (customer_key, branch_id, month)
        LEFT JOIN complaints_month cm USING (customer_key, branch_id, month)
        ORDER BY ALL""").fetchall()
    exported = db.execute("""SELECT customer_key, branch_id, month, orders, revenue, discounts, cogs, sms_sent,
        emails_sent, complaints, lines, lines_costed, cost_to_serve, profit FROM profitability ORDER BY ALL""").fetchall()
    cells = {r[:3] for r in recomputed}, {r[:3] for r in exported}
    assert cells[0] == cells[1], ("recomputed only", cells[0] - cells[1], "exported only", cells[1] - cells[0])
    assert len(recomputed) == len(exported) > 60
    for mine, theirs in zip(recomputed, exported, strict=True):
        assert mine[:4] == theirs[:4] and mine[7:12] == theirs[7:12], (mine, theirs)
        assert [Decimal(str(x)) for x in mine[4:7]] == [Decimal(str(x)) for x in theirs[4:7]], (mine, theirs)
        cost = Decimal(mine[7] * p.sms_price + mine[8] * p.email_price + mine[9] * p.complaint_cost)
        assert Decimal(str(theirs[12])) == cost
        assert Decimal(str(theirs[13])) == Decimal(str(mine[4])) - Decimal(str(mine[5])) - Decimal(str(mine[6])) - cost


def test_profitability_through_the_api_sums_the_dataset_and_names_customers_for_managers_only(
        db: Any, planted: dict[str, Any], as_user: Any) -> None:
    manager = as_user(f"manager.{BRANCH}").get("/analytics/profitability")
    assert manager.status_code == 200, manager.body
    [branch] = manager.json["branches"]
    assert manager.json["as_of"] == today().isoformat() and branch["branch_id"] == BRANCH
    months = {m["month"]: m for m in branch["months"]}
    for month, revenue, profit, lines, costed in db.execute(f"""
            SELECT month, sum(revenue), sum(profit), sum(lines), sum(lines_costed) FROM profitability
            WHERE branch_id = '{BRANCH}' GROUP BY month""").fetchall():
        assert Decimal(months[month]["revenue"]) == Decimal(str(revenue)).quantize(Decimal("0.01"))
        assert Decimal(months[month]["profit"]) == Decimal(str(profit)).quantize(Decimal("0.01"))
        assert months[month]["cost_coverage"] == (round(costed / lines, 6) if lines else None)
    assert months[today().strftime("%Y-%m")]["cost_coverage"] < 1  # the wax has no cost price
    ids = {c["customer_id"] for c in branch["top_customers"]}
    assert {p["id"] for p in planted["people"][:4]} <= ids  # 15 months of orders: the most valuable
    assert all("customer_key" not in c for c in branch["top_customers"])  # no pseudonym-to-person table
    assert len(branch["months"]) == 24 and manager.json["months"] == [{**m} for m in branch["months"]]
    analyst = as_user("analyst").get(f"/analytics/profitability?branch={BRANCH}")
    assert analyst.status_code == 200
    assert all("customer_id" not in c and c["customer_key"] for b in analyst.json["branches"]
               for c in b["top_customers"])
    assert analyst.json["branches"][0]["months"] == branch["months"]
    everyone = as_user("admin").get("/analytics/profitability").json
    month = today().strftime("%Y-%m")
    assert Decimal(next(m for m in everyone["months"] if m["month"] == month)["revenue"]) == sum(
        (Decimal(next(m for m in b["months"] if m["month"] == month)["revenue"]) for b in everyone["branches"]
         if b["months"]), Decimal(0))


def _baskets_sql(scope: str) -> str:
    since = (today() - timedelta(days=179)).isoformat()
    where = "" if scope == "all" else f"AND o.branch_id = '{scope}'"
    return f"""SELECT o.order_key, list(DISTINCT l.category) AS items FROM orders o JOIN order_lines l USING (order_key)
               WHERE o.is_revenue AND o.placed_on BETWEEN '{since}' AND '{today().isoformat()}' {where} GROUP BY 1"""


@pytest.mark.parametrize("scope", ["all", BRANCH])
def test_every_basket_rule_has_the_support_confidence_and_lift_duckdb_counts(db: Any, scope: str) -> None:
    rules = db.execute(f"""SELECT antecedent, consequent, orders, support, confidence, lift, baskets FROM basket_rules
                           WHERE scope = '{scope}' AND level = 'category' ORDER BY rank""").fetchall()
    assert rules, "the planted oil-and-filter orders make a rule"
    n = db.execute(f"SELECT count(*) FROM ({_baskets_sql(scope)})").fetchone()[0]
    for antecedent, consequent, together, support, confidence, lift, baskets in rules:
        items = json.loads(antecedent) if isinstance(antecedent, str) else list(antecedent)
        both, left, right = db.execute(f"""
            WITH b AS ({_baskets_sql(scope)})
            SELECT count(*) FILTER (WHERE list_has_all(items, $all)), count(*) FILTER (WHERE list_has_all(items, $left)),
                   count(*) FILTER (WHERE list_contains(items, $right)) FROM b""",
                                       {"all": [*items, consequent], "left": items, "right": consequent}).fetchone()
        assert (baskets, together) == (n, both)
        assert support == round(both / n, 6) and confidence == round(both / left, 6)
        assert lift == round((both / left) / (right / n), 6)
    # and no pair over the thresholds is missing (the rules are fewer than the top 100)
    pairs = db.execute(f"""
        WITH b AS ({_baskets_sql(scope)}), n AS (SELECT count(*) AS n FROM b),
        single AS (SELECT item, count(*) AS k FROM (SELECT unnest(items) AS item FROM b) GROUP BY 1),
        pair AS (SELECT x.item AS a, y.item AS c, count(*) AS k FROM b, unnest(b.items) AS x(item),
                 unnest(b.items) AS y(item) WHERE x.item <> y.item GROUP BY 1, 2)
        SELECT pair.a, pair.c FROM pair, n, single sa, single sc WHERE sa.item = pair.a AND sc.item = pair.c
          AND pair.k >= greatest(10, 0.005 * n.n) AND pair.k / sa.k >= 0.2 AND (pair.k / sa.k) / (sc.k / n.n) >= 1.2
        ORDER BY ALL""").fetchall()
    exported_pairs = sorted((json.loads(a)[0] if isinstance(a, str) else a[0], c) for a, c, *_ in rules if len(
        json.loads(a) if isinstance(a, str) else a) == 1)
    if len(rules) < 100:
        assert sorted(pairs) == exported_pairs


def test_the_basket_route_answers_the_datasets_rules(db: Any, as_user: Any) -> None:
    answer = as_user("admin").get("/analytics/basket")
    assert answer.status_code == 200, answer.body
    assert answer.json["scope"] == "all" and answer.json["level"] == "category"
    expected = db.execute("SELECT consequent, orders, lift FROM basket_rules WHERE scope = 'all' AND level = "
                          "'category' ORDER BY rank").fetchall()
    assert [(r["consequent"], r["orders"], r["lift"]) for r in answer.json["rules"]] == expected
    mine = as_user(f"manager.{BRANCH}").get("/analytics/basket")
    assert mine.json["scope"] == BRANCH
    assert as_user(f"manager.{BRANCH}").get("/analytics/basket?branch=surabaya").status_code == 403
    assert as_user("admin").get("/analytics/basket?level=brand").status_code == 400


FLAG_SQL = """
WITH o AS (SELECT *, placed_at::TIMESTAMP AS t FROM orders),
win AS (SELECT * FROM o WHERE placed_on BETWEEN $since AND $day),
listed AS (SELECT order_key, sum(round(qty::DECIMAL(18, 3) * coalesce(list_price, unit_price), 2)) AS list_value,
                  sum(round(qty::DECIMAL(18, 3) * unit_price, 2)) AS sold,
                  count(*) FILTER (WHERE cost_price IS NOT NULL
                                   AND round(qty::DECIMAL(18, 3) * unit_price, 2) - discount_amount < round(qty::DECIMAL(18, 3) * cost_price, 2)) AS below
           FROM order_lines GROUP BY 1),
hist AS (SELECT order_key, customer_key, net_total, list(net_total) OVER (PARTITION BY customer_key
                 ORDER BY placed_at, order_key ROWS BETWEEN 20 PRECEDING AND 1 PRECEDING) AS h
         FROM o WHERE is_revenue),
z AS (SELECT order_key, net_total, h, list_median(h) AS med FROM hist WHERE len(h) >= 5),
zz AS (SELECT order_key, 0.6745 * (net_total - med) / greatest(list_median(list_transform(h, x -> abs(x - med))),
                                                                 0.1 * abs(med)) AS score FROM z),
burst AS (SELECT a.order_key AS last_key, a.customer_key, a.t FROM o a JOIN o b ON a.customer_key = b.customer_key
          AND b.t > a.t - INTERVAL 24 HOUR AND (b.t < a.t OR (b.t = a.t AND b.order_key <= a.order_key))
          GROUP BY 1, 2, 3 HAVING count(*) >= 3)
SELECT order_key, 'amount_unusual' FROM zz JOIN win USING (order_key) WHERE abs(score) > 3.5
UNION SELECT p.order_key, 'velocity' FROM win p JOIN burst ON p.customer_key = burst.customer_key
      AND p.t > burst.t - INTERVAL 24 HOUR AND p.t <= burst.t
UNION SELECT p.order_key, 'shared_phone' FROM win p JOIN o q ON p.phone_key = q.phone_key
      AND p.customer_key <> q.customer_key AND abs(epoch(p.t) - epoch(q.t)) < 7 * 86400
UNION SELECT order_key, 'discount_over_limit' FROM win JOIN listed USING (order_key)
      WHERE list_value > 0 AND (list_value - (sold - discount_total)) / list_value > 0.3
UNION SELECT order_key, 'price_below_cost' FROM win JOIN listed USING (order_key) WHERE below > 0
UNION SELECT order_key, 'quick_return' FROM win WHERE returned_at IS NOT NULL
      AND epoch(returned_at::TIMESTAMP) - epoch(coalesce(delivered_at, placed_at)::TIMESTAMP) <= 7 * 86400
UNION SELECT order_key, 'changed_after_delivery' FROM win WHERE changed_after_delivery
UNION SELECT order_key, 'staff_phone' FROM win WHERE placed_with_staff_phone
"""


def test_transaction_flags_recomputed_from_the_files_are_the_datasets_flags(db: Any) -> None:
    day = today()
    recomputed = set(db.execute(FLAG_SQL, {"since": (day - timedelta(days=29)).isoformat(),
                                           "day": day.isoformat()}).fetchall())
    exported = set(db.execute("SELECT order_key, reason FROM transaction_flags").fetchall())
    assert recomputed == exported


def test_every_planted_anomaly_is_flagged_with_its_reason_for_the_branchs_manager(
        planted: dict[str, Any], files: Path, as_user: Any) -> None:
    answer = as_user(f"manager.{BRANCH}").get("/analytics/transaction-flags")
    assert answer.status_code == 200, answer.body
    found = {(f["order_id"], f["reason"]) for f in answer.json["items"]}
    o = planted["orders"]
    for name, reason in (("discount", "discount_over_limit"), ("below_cost", "price_below_cost"),
                         ("shared_a", "shared_phone"), ("shared_b", "shared_phone"), ("staff_phone", "staff_phone"),
                         ("quick_return", "quick_return"), ("changed", "changed_after_delivery"),
                         ("unusual", "amount_unusual")):
        assert (o[name]["id"], reason) in found, (name, reason)
    assert not {(o[f"together{n}"]["id"], r) for n in range(12) for r in ("discount_over_limit", "shared_phone",
                                                                       "price_below_cost", "staff_phone")} & found
    assert answer.json["counts"]["shared_phone"] >= 2
    only = as_user(f"manager.{BRANCH}").get("/analytics/transaction-flags?reason=staff_phone").json["items"]
    assert {f["reason"] for f in only} == {"staff_phone"} and o["staff_phone"]["id"] in {f["order_id"] for f in only}
    assert all("order_key" not in f and "customer_key" not in f for f in answer.json["items"])
    analyst = as_user("analyst").get(f"/analytics/transaction-flags?branch={BRANCH}")
    assert analyst.status_code == 200 and analyst.json["items"]
    assert all("order_id" not in f and f["order_key"] for f in analyst.json["items"])
    assert as_user(f"agent.{BRANCH}").get("/analytics/transaction-flags").status_code == 403
    assert as_user("analyst").get("/analytics/transaction-flags?reason=fraud").status_code == 400


def test_an_order_placed_with_the_staff_members_own_phone_says_so_and_the_customers_own_does_not(
        planted: dict[str, Any]) -> None:
    o = planted["orders"]
    assert o["staff_phone"]["placed_with_staff_phone"] is True
    phones = {p["id"]: p["phone"] for p in planted["people"]}
    assert o["wax"]["placed_with_staff_phone"] is False and o["wax"]["contact_phone"] == phones[o["wax"]["customer_id"]]
    assert o["changed"]["changed_after_delivery_at"] is not None
    assert all(line["list_price"] is not None and "cost_price" not in line for line in o["discount"]["lines"])


def _month(m: str, k: int) -> str:
    year, month = int(m[:4]), int(m[5:]) - 1 + k
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def test_the_forecast_recomputed_from_the_files_equals_the_dataset_and_the_api(db: Any, as_user: Any) -> None:
    day = today()
    last_complete = day.strftime("%Y-%m") if (day + timedelta(days=1)).day == 1 else _month(day.strftime("%Y-%m"), -1)
    series = dict(db.execute(f"""SELECT substr(placed_on, 1, 7), sum(subtotal - discount_total) FROM orders
                                 WHERE is_revenue AND branch_id = '{BRANCH}' AND substr(placed_on, 1, 7) <= '{last_complete}'
                                 GROUP BY 1""").fetchall())
    first = min(series)

    def value(m: str) -> Decimal:
        return Decimal(str(series.get(m, 0)))

    def seasonal(m: str) -> Decimal | None:
        return value(_month(m, -12)) if _month(m, -12) >= first else None

    def moving(m: str) -> Decimal | None:
        return sum((value(_month(m, -k)) for k in (1, 2, 3)), Decimal(0)) / 3 if _month(m, -3) >= first else None

    tested = [_month(last_complete, -k) for k in range(5, -1, -1)]
    has_moving = [m for m in tested if value(m) > 0 and moving(m) is not None]
    both = [m for m in has_moving if seasonal(m) is not None]  # both methods compared over the same months

    def mape(method: Any, months: list[str]) -> float | None:
        errors = [abs(float(value(m) - method(m))) / float(value(m)) for m in months]
        return round(sum(errors) / len(errors), 6) if errors else None

    rows = db.execute(f"""SELECT month, method, forecast, seasonal_naive, mape_seasonal_naive, mape_moving_average
                          FROM revenue_forecast WHERE branch_id = '{BRANCH}' ORDER BY month""").fetchall()
    ahead = _month(last_complete, 1)
    assert [r[0] for r in rows] == [ahead, _month(ahead, 1), _month(ahead, 2)]
    naive_error, moving_error = mape(seasonal, both), mape(moving, both or has_moving)
    assert (rows[0][4], rows[0][5]) == (naive_error, moving_error)
    better = "seasonal_naive" if naive_error is not None and moving_error is not None and naive_error < moving_error \
        else "moving_average"
    assert rows[0][1] == better
    first_forecast = seasonal(ahead) if better == "seasonal_naive" else moving(ahead)
    assert Decimal(str(rows[0][2])) == first_forecast.quantize(Decimal("0.01"))
    for month, _, _, naive, _, _ in rows:
        expected = seasonal(month)
        assert (None if naive is None else Decimal(str(naive))) == (None if expected is None else expected.quantize(
            Decimal("0.01")))
    answer = as_user(f"manager.{BRANCH}").get("/analytics/forecast")
    assert answer.status_code == 200, answer.body
    [mine] = answer.json["branches"]
    assert (mine["method"], mine["mape_seasonal_naive"], mine["mape_moving_average"]) == (better, naive_error,
                                                                                        moving_error)
    assert [m["month"] for m in mine["months"]] == [r[0] for r in rows]
    actual = {a["month"]: Decimal(a["net_revenue"]) for a in mine["actual"]}
    assert all(actual[m] == value(m).quantize(Decimal("0.01")) for m in tested)


def test_money_routes_are_for_admins_managers_of_the_branch_and_analysts(as_user: Any) -> None:
    for path in ("/analytics/profitability", "/analytics/basket", "/analytics/transaction-flags",
                 "/analytics/forecast"):
        for user in ("agent.jakarta", "marketing"):
            assert as_user(user).get(path).status_code == 403
        assert as_user("manager.jakarta").get(path + "?branch=surabaya").status_code == 403
        assert as_user("analyst").get(path).status_code == 200
        assert as_user("admin").get(path + "?branch=nowhere").status_code == 400


def test_the_console_dashboard_shows_the_money_with_links_to_review_for_managers_only(
        planted: dict[str, Any], files: Path, api: Any, token: Any) -> None:
    def page(user: str) -> str:
        answer = api.request("GET", "/console/dashboard", headers={"HX-Request": "true",
                                                                   "Authorization": f"Bearer {token(user)}"})
        assert answer.status_code == 200, answer.body
        return str(answer.body.decode())

    manager = page(f"manager.{BRANCH}")
    assert "Transaksi untuk diperiksa" in manager and "Sering dibeli bersama" in manager
    assert f"/console/orders/{planted['orders']['staff_phone']['id']}" in manager  # newest flags first, with a link
    assert "Dipesan dengan nomor staf sendiri" in manager
    assert "service package" in manager or "spare part" in manager  # the oil-change-and-filter rule
    assert today().strftime("%Y-%m") in manager  # the months' profit table
    analyst = page("analyst")
    assert "Transaksi untuk diperiksa" in analyst and "/console/orders/" not in analyst
    agent = api.request("GET", "/console/dashboard", headers={"HX-Request": "true",
                                                              "Authorization": f"Bearer {token(f'agent.{BRANCH}')}"})
    assert agent.status_code == 403


def test_a_basket_rule_starts_a_cross_sell_campaign_in_the_builder(files: Path, api: Any, token: Any) -> None:
    import re

    headers = {"HX-Request": "true", "Authorization": f"Bearer {token('admin')}"}
    dashboard = api.request("GET", "/console/dashboard", headers=headers).body.decode()
    links = re.findall(r'href="(/console/campaigns/new\?bought=([a-z_]+)&amp;not_bought=([a-z_]+))"', dashboard)
    assert links, "a rule with one item on the left offers a cross-sell campaign"
    href, bought, not_bought = links[0]
    builder = api.request("GET", href.replace("&amp;", "&"), headers=headers)
    assert builder.status_code == 200
    page = builder.body.decode()
    assert f'name="bought_category_in_{bought}" value="1" checked' in page
    assert f'name="not_bought_category_in_{not_bought}" value="1" checked' in page
    assert '<option value="cross_sell" selected>' in page
    unknown = api.request("GET", "/console/campaigns/new?bought=<script>", headers=headers).body.decode()
    assert "<script>" not in unknown and '<option value="cross_sell" selected>' not in unknown  # not a category
    manager = api.request("GET", "/console/dashboard", headers={**headers,
                                                                 "Authorization": f"Bearer {token('manager.jakarta')}"})
    assert "/console/campaigns/new?" not in manager.body.decode()  # managers do not run campaigns
