"""Orders through the API as a web client uses it (totals, numbers, lifecycle, scoping), and the totals' and the
lifecycle's rules on their own."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import orders as rules
from chalicelib.domain.errors import Conflict, Unprocessable

_n = itertools.count(1)


def _order(caller: Any, customer_id: str, **fields: Any) -> Any:
    body = {"channel": "showroom", "lines": [{"sku": "ORD-OIL", "qty": 4, "tax_rate": "0.11"},
                                             {"sku": "ORD-FILTER", "qty": "1", "discount_amount": "5000",
                                              "tax_rate": "0.11"}], **fields}
    return caller.post(f"/customers/{customer_id}/orders", body)


def test_the_server_computes_exact_totals_and_numbers_the_order_per_branch(as_user: Any, catalog: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    r = _order(agent, customer["id"], promised_date="2026-12-20")
    assert r.status_code == 201, r.body
    order = r.json
    assert r.headers["Location"] == f"/orders/{order['id']}" and r.headers["ETag"] == '"v1"'
    # 4 x 95,000 = 380,000 (+11% = 41,800); 1 x 65,000 - 5,000 = 60,000 (+11% = 6,600)
    assert (order["subtotal"], order["discount_total"], order["tax_total"], order["net_total"]) == (
        "445000.00", "5000.00", "48400.00", "488400.00")
    assert [(line["unit_price"], line["total"]) for line in order["lines"]] == [("95000.00", "421800.00"),
                                                                             ("65000.00", "66600.00")]
    assert order["branch_id"] == "jakarta" and order["status"] == "draft" and order["payment_status"] == "unpaid"
    assert order["order_no"].startswith("JAK-") and order["history"][0]["change"] == "created"
    second = _order(agent, customer["id"]).json
    assert int(second["order_no"].rsplit("-", 1)[1]) == int(order["order_no"].rsplit("-", 1)[1]) + 1


def test_totals_that_disagree_and_unknown_or_inactive_skus_are_422_and_make_nothing(as_user: Any,
                                                                                    catalog: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    wrong = _order(agent, customer["id"], net_total="488399.99")
    assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "net_total"
    right = _order(agent, customer["id"], subtotal="445000", net_total="488400.00")
    assert right.status_code == 201
    lines = [{"sku": "ORD-OIL", "qty": 1}, {"sku": "NOPE-1", "qty": 1}, {"sku": "ORD-OLD", "qty": 1}]
    bad = agent.post(f"/customers/{customer['id']}/orders", {"channel": "phone", "lines": lines})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json["errors"]] == ["lines.1.sku", "lines.2.sku"]
    too_much = agent.post(f"/customers/{customer['id']}/orders", {"channel": "phone", "lines": [
        {"sku": "ORD-OIL", "qty": 1, "discount_amount": "95000.01"}]})
    assert too_much.status_code == 422 and too_much.json["errors"][0]["field"] == "lines.0.discount_amount"
    listed = agent.get(f"/customers/{customer['id']}/orders").json["items"]
    assert [o["id"] for o in listed] == [right.json["id"]]


@pytest.mark.parametrize("line", [{"sku": "ORD-OIL", "qty": 0}, {"sku": "ORD-OIL", "qty": "1.2345"},
                                  {"sku": "ORD-OIL", "qty": 1.5}, {"sku": "ORD-OIL", "qty": 1, "tax_rate": "11"},
                                  {"sku": "ORD-OIL", "qty": 1, "unit_price": 1000},
                                  {"sku": "ORD-OIL", "qty": True}])
def test_quantities_rates_and_prices_that_are_not_exact_are_400(as_user: Any, catalog: Any,
                                                                 line: dict[str, Any]) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    r = agent.post(f"/customers/{customer['id']}/orders", {"channel": "phone", "lines": [line]})
    assert r.status_code == 400, r.body


def test_an_order_number_is_unique_per_branch(as_user: Any, catalog: Any) -> None:
    admin = as_user("admin")
    jakarta = admin.new_customer(branch_id="jakarta")
    bandung = admin.new_customer(branch_id="bandung")
    number = f"PO-{next(_n)}-{datetime.now(UTC).timestamp():.0f}"
    first = _order(admin, jakarta["id"], order_no=number)
    assert first.status_code == 201
    clash = _order(admin, jakarta["id"], order_no=number.lower())
    assert clash.status_code == 409 and clash.json["existing_order_id"] == first.json["id"]
    assert _order(admin, bandung["id"], order_no=number).status_code == 201  # another branch's own numbering


def test_the_lifecycle_through_the_api(as_user: Any, catalog: Any) -> None:
    agent, manager = as_user("agent.bandung"), as_user("manager.bandung")
    customer = agent.new_customer(branch_id="bandung")
    order = _order(agent, customer["id"]).json
    path = f"/orders/{order['id']}"
    assert agent.patch(path, {"status": "confirmed"}).status_code == 428
    assert agent.patch(path, {"status": "confirmed"}, headers={"If-Match": '"v9"'}).status_code == 412
    assert agent.patch(path, {"status": "confirmed"}, headers={"If-Match": '"v1"'}).status_code == 200
    illegal = agent.patch(path, {"status": "delivered"}, headers={"If-Match": '"v2"'})
    assert illegal.status_code == 409
    assert illegal.json["allowed_next_states"] == ["partially_shipped", "shipped", "cancelled"]
    assert agent.patch(path, {"status": "cancelled"}, headers={"If-Match": '"v2"'}).status_code == 403
    paid = agent.patch(path, {"payment_status": "paid"}, headers={"If-Match": '"v2"'})
    assert paid.status_code == 200 and paid.json["payment_status"] == "paid"
    cancelled = manager.patch(path, {"status": "cancelled"}, headers={"If-Match": '"v3"'})
    assert cancelled.status_code == 200
    history = agent.get(path).json["history"]
    assert [(h["change"], h["from"], h["to"]) for h in history] == [
        ("created", None, "draft"), ("status", "draft", "confirmed"), ("payment_status", "unpaid", "paid"),
        ("status", "confirmed", "cancelled")]


def test_a_return_needs_its_reason(as_user: Any, catalog: Any) -> None:
    admin = as_user("admin")
    customer = admin.new_customer(branch_id="surabaya")
    path = f"/orders/{_order(admin, customer['id']).json['id']}"
    for n, status in enumerate(("confirmed", "shipped", "delivered"), start=1):
        assert admin.patch(path, {"status": status}, headers={"If-Match": f'"v{n}"'}).status_code == 200
    assert admin.patch(path, {"status": "returned"}, headers={"If-Match": '"v4"'}).status_code == 422
    assert admin.patch(path, {"status": "returned", "return_reason": "just because"},
                       headers={"If-Match": '"v4"'}).status_code == 400
    back = admin.patch(path, {"status": "returned", "return_reason": "damaged"}, headers={"If-Match": '"v4"'})
    assert back.status_code == 200 and back.json["return_reason"] == "damaged"


def test_another_branch_and_the_roles_without_orders_see_nothing(as_user: Any, catalog: Any) -> None:
    admin = as_user("admin")
    customer = admin.new_customer(branch_id="surabaya")
    order = _order(admin, customer["id"]).json
    outsider = as_user("agent.jakarta")
    missing = outsider.get("/orders/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    hidden = outsider.get(f"/orders/{order['id']}")
    assert hidden.status_code == missing.status_code == 404 and hidden.body == missing.body
    assert _order(outsider, customer["id"]).status_code == 404
    assert outsider.get("/orders?branch=surabaya").status_code == 403
    assert order["id"] not in {o["id"] for o in outsider.get("/orders?limit=100").json["items"]}
    for role in ("marketing", "analyst"):
        assert as_user(role).get(f"/orders/{order['id']}").status_code == 403
        assert as_user(role).get("/orders").status_code == 403


def test_lists_by_branch_status_and_day_newest_first_with_a_cursor(as_user: Any, catalog: Any) -> None:
    manager = as_user("manager.surabaya")
    customer = manager.new_customer(branch_id="surabaya")
    made = [_order(manager, customer["id"]).json for _ in range(3)]
    page = manager.get(f"/customers/{customer['id']}/orders?limit=2").json
    assert [o["id"] for o in page["items"]] == [made[2]["id"], made[1]["id"]]
    rest = manager.get(f"/customers/{customer['id']}/orders?limit=2&cursor={page['next_cursor']}").json
    assert [o["id"] for o in rest["items"]] == [made[0]["id"]]
    manager.patch(f"/orders/{made[0]['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    confirmed = manager.get("/orders?status=confirmed&limit=100").json["items"]
    assert made[0]["id"] in {o["id"] for o in confirmed} and all(o["status"] == "confirmed" for o in confirmed)
    assert all(o["branch_id"] == "surabaya" for o in manager.get("/orders?limit=100").json["items"])
    assert manager.get("/orders?placed_from=2001-01-01&placed_to=2001-01-31").json["items"] == []
    assert manager.get("/orders?placed_to=2001-01-31").json["items"] == []  # one end of the window alone
    assert {o["id"] for o in made} <= {o["id"] for o in manager.get("/orders?placed_from=2001-01-01&limit=100")
                                       .json["items"]}
    assert manager.get("/orders?placed_from=2026-02-01&placed_to=2026-01-01").status_code == 400


def test_an_idempotent_retry_places_one_order(as_user: Any, catalog: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    key = f"order-{next(_n)}-{datetime.now(UTC).timestamp()}"
    first = agent.post(f"/customers/{customer['id']}/orders",
                       {"channel": "online", "lines": [{"sku": "ORD-OIL", "qty": 1}]}, headers={"Idempotency-Key": key})
    again = agent.post(f"/customers/{customer['id']}/orders",
                       {"channel": "online", "lines": [{"sku": "ORD-OIL", "qty": 1}]}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201 and first.json["id"] == again.json["id"]
    assert len(agent.get(f"/customers/{customer['id']}/orders").json["items"]) == 1


# --- the rules on their own --------------------------------------------------------------------------------------------

AMOUNT = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False, allow_infinity=False)
QTY = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3, allow_nan=False,
                  allow_infinity=False)
RATE = st.decimals(min_value=0, max_value=1, places=4, allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(QTY, AMOUNT, st.floats(0, 1), RATE), min_size=1, max_size=20))
def test_totals_are_exact_sums_rounded_half_up_per_line(raw: list[tuple[Decimal, Decimal, float, Decimal]]) -> None:
    lines = []
    for n, (qty, price, share, rate) in enumerate(raw, start=1):
        subtotal = (qty * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        discount = (subtotal * Decimal(str(round(share, 2)))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        line = rules.line_of(n, rules.NewLine(sku="X", qty=qty, unit_price=price, discount_amount=discount,
                                              tax_rate=rate), name="x", unit="pcs", list_price=Decimal("1"))
        expected_tax = ((subtotal - discount) * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert (line.subtotal, line.tax, line.total) == (subtotal, expected_tax, subtotal - discount + expected_tax)
        lines.append(line)
    totals = rules.totals_of(lines)
    assert totals.net_total == totals.subtotal - totals.discount_total + totals.tax_total
    assert totals.net_total == sum(line.total for line in lines)
    assert all(str(value).count(".") == 1 and len(str(value).split(".")[1]) == 2
               for value in (totals.subtotal, totals.discount_total, totals.tax_total, totals.net_total))


def test_half_a_cent_of_tax_rounds_up() -> None:
    line = rules.line_of(1, rules.NewLine(sku="X", qty=Decimal("1"), unit_price=Decimal("0.05"),
                                          tax_rate=Decimal("0.1")), name="x", unit="pcs", list_price=Decimal("1"))
    assert line.tax == Decimal("0.01")  # 0.005 -> 0.01


@pytest.mark.parametrize("start", [s.value for s in rules.Status])
@pytest.mark.parametrize("to", [s.value for s in rules.Status])
def test_the_lifecycle_table(start: str, to: str) -> None:
    order = rules.Order(id="o", order_no="n", customer_id="c", branch_id="b", channel="phone", status=start,
                        payment_status="unpaid", lines=[], subtotal=Decimal(0), discount_total=Decimal(0),
                        tax_total=Decimal(0), net_total=Decimal(0), placed_at="t", updated_at="t", created_by="u")
    now = datetime.now(UTC)
    if to in rules.NEXT[start]:
        moved = rules.transition(order, to, by="u", now=now, return_reason="damaged")
        assert moved.status == to and moved.history[-1].from_value == start
    else:
        with pytest.raises(Conflict) as refused:
            rules.transition(order, to, by="u", now=now)
        assert refused.value.extra["allowed_next_states"] == list(rules.NEXT[start])
    if to == "returned" and start == "delivered":
        with pytest.raises(Unprocessable):
            rules.transition(order, to, by="u", now=now)


def test_erasing_the_customer_keeps_the_order_as_a_financial_record(as_user: Any, catalog: Any) -> None:
    """An order is the books': it outlives its customer's erasure, holding no personal data of theirs."""
    admin = as_user("admin")
    customer = admin.new_customer(branch_id="jakarta", name="Sinta Dihapus")
    order = _order(admin, customer["id"]).json
    assert admin.delete(f"/customers/{customer['id']}").status_code == 204
    kept = admin.get(f"/orders/{order['id']}")
    assert kept.status_code == 200 and kept.json["net_total"] == order["net_total"]
    assert "Sinta" not in kept.body.decode() and customer["phone"] not in kept.body.decode()
    assert admin.get(f"/customers/{customer['id']}/orders").status_code == 404  # the customer is gone


def test_where_is_my_order_by_number_or_phone_in_the_customers_language(as_user: Any, catalog: Any) -> None:
    agent = as_user("agent.bandung")
    customer = agent.new_customer(branch_id="bandung", language="en")
    order = _order(agent, customer["id"], promised_date="2026-12-20").json
    agent.patch(f"/orders/{order['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    by_number = agent.get(f"/orders/lookup?order_no={order['order_no'].lower()}")
    assert by_number.status_code == 200, by_number.body
    [item] = by_number.json["items"]
    assert item["status_text"] == f"Pesanan {order['order_no']} sudah dikonfirmasi; perkiraan tiba 20 Desember 2026."
    assert item["expected_date"] == "2026-12-20" and by_number.json["customer_id"] == customer["id"]
    phone = customer["phone"].replace("+62", "0")  # as the caller's number arrives
    by_phone = agent.get(f"/orders/lookup?phone={phone}").json
    assert by_phone["items"][0]["status_text"] == f"Order {order['order_no']} is confirmed; expected on 20 December 2026."
    # another branch: not found, as a number nobody has
    outsider = as_user("agent.jakarta")
    hidden = outsider.get(f"/orders/lookup?order_no={order['order_no']}&branch=bandung")
    assert hidden.status_code == 404
    assert outsider.get(f"/orders/lookup?order_no={order['order_no']}").status_code == 404  # jakarta has none
    assert outsider.get(f"/orders/lookup?phone={phone}").status_code == 404
    assert agent.get("/orders/lookup").status_code == 400
    assert as_user("admin").get(f"/orders/lookup?order_no={order['order_no']}").status_code == 422  # which branch?


def test_the_customer_hears_of_each_step_once_and_a_redelivered_record_sends_nothing(
        as_user: Any, catalog: Any, stream_pump: Any) -> None:
    from chalicelib.persistence import orders as repo
    from chalicelib.persistence.changes import Change
    from chalicelib.workflows import orders as order_workflow

    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta", language="en", preferred_channel="sms")
    quiet = agent.new_customer(branch_id="jakarta")
    order = _order(agent, customer["id"], promised_date="2026-12-20").json
    unnotified = _order(agent, quiet["id"], notify_customer=False).json
    for n, status in enumerate(("confirmed", "shipped", "delivered"), start=1):
        assert agent.patch(f"/orders/{order['id']}", {"status": status},
                           headers={"If-Match": f'"v{n}"'}).status_code == 200
    agent.patch(f"/orders/{unnotified['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    stream_pump.drain(30)

    def sent(customer_id: str) -> list[dict[str, Any]]:
        items = agent.get(f"/customers/{customer_id}/interactions?limit=50").json["items"]
        return [i for i in items if i["kind"] == "order_update"]

    told = sorted(sent(customer["id"]), key=lambda i: i["occurred_at"])
    # confirmed and delivered; that it left they hear from its shipments (tests/test_shipments.py), and a
    # status moved by hand to shipped has none
    assert [m["delivery"] for m in told] == ["sent", "sent"]
    assert "is confirmed, expected on 20 Dec 2026" in told[0]["summary"]
    assert all(order["order_no"] in m["summary"] and len(m["summary"]) <= 160 for m in told)
    assert sent(quiet["id"]) == []
    # the stream delivers the last record again: the claim holds, nothing is sent twice
    delivered = repo.get(order["id"])
    assert delivered is not None
    before = repo.get(order["id"])
    assert before is not None
    before.status = "shipped"
    order_workflow.order_changed(Change("again", False, before, delivered), before, delivered)
    assert len(sent(customer["id"])) == 2


def test_an_order_is_on_its_customers_timeline(as_user: Any, catalog: Any, api: Any, token: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    agent.post(f"/customers/{customer['id']}/interactions", {"channel": "visit", "direction": "inbound",
                                                             "kind": "sales_talk", "summary": "Lihat unit"})
    order = _order(agent, customer["id"]).json
    items = agent.get(f"/customers/{customer['id']}/timeline").json["items"]
    assert items[0]["type"] == "order" and items[0]["order_no"] == order["order_no"]
    assert items[0]["net_total"] == order["net_total"] and "lines" not in items[0]
    assert items[1]["type"] == "interaction"
    page = api.request("GET", f"/console/customers/{customer['id']}",
                       headers={"HX-Request": "true", "Authorization": f"Bearer {token('agent.jakarta')}"})
    assert page.status_code == 200 and order["order_no"] in page.body.decode()


@pytest.mark.parametrize("field", [{"ref": "Budi 0812-3456-7890 Jl. Melati"}, {"order_no": "JAK-2026-000050"},
                                   {"lines": [{"sku": "ORD-OIL", "qty": "١"}]},
                                   {"lines": [{"sku": "ORD-OIL", "qty": 1, "unit_price": "１２３"}]}])
def test_free_text_generated_looking_numbers_and_non_ascii_digits_are_refused(as_user: Any, catalog: Any,
                                                                             field: dict[str, Any]) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(branch_id="jakarta")
    assert _order(agent, customer["id"], **field).status_code == 400


def test_an_order_stays_with_the_branch_that_placed_it(as_user: Any, catalog: Any) -> None:
    admin = as_user("admin")
    customer = admin.new_customer(branch_id="jakarta")
    order = _order(admin, customer["id"]).json
    assert admin.patch(f"/customers/{customer['id']}", {"branch_id": "bandung"},
                       headers={"If-Match": '"v1"'}).status_code == 200
    bandung = as_user("agent.bandung")
    assert bandung.get(f"/customers/{customer['id']}/orders").json["items"] == []
    assert all(i["type"] != "order" for i in bandung.get(f"/customers/{customer['id']}/timeline").json["items"])
    assert bandung.get(f"/orders/{order['id']}").status_code == 404
    assert as_user("agent.jakarta").get(f"/orders/{order['id']}").status_code == 200


def test_two_orders_racing_for_one_number_and_two_moves_racing_on_one_version(as_user: Any, catalog: Any) -> None:
    """Two requests that meet: one order gets the number (the other a 409 naming it, never a 500 or a second
    order), and of two moves sent with the same ETag one wins and the other is told to read again."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.domain.access import Principal, Role, authorize
    from chalicelib.domain.errors import PreconditionFailed
    from chalicelib.domain.orders import NewLine, NewOrder, OrderChanges
    from chalicelib.services import orders

    admin = as_user("admin")
    customer = admin.new_customer(branch_id="bandung")
    principal = Principal(sub="race", username="race", roles=frozenset({Role.ADMIN}), branch=None)
    number = f"RACE-{next(_n)}-{datetime.now(UTC).timestamp():.0f}"
    new = NewOrder(channel="phone", order_no=number, lines=(NewLine(sku="ORD-OIL", qty=Decimal(1)),))

    def place() -> Any:
        try:
            return orders.place(authorize(principal, "orders.create"), customer["id"], new)
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: place(), range(2)))
    made = [r for r in results if not isinstance(r, Conflict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(made) == 1 and len(refused) == 1 and refused[0].extra["existing_order_id"] == made[0].id
    assert [o["order_no"] for o in admin.get(f"/customers/{customer['id']}/orders").json["items"]] == [number]

    def move(status: str) -> Any:
        try:
            return orders.update(authorize(principal, "orders.update"), made[0].id, '"v1"',
                                 OrderChanges(sent=frozenset({"status"}), status=status))
        except PreconditionFailed as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        moved = list(pool.map(move, ("confirmed", "cancelled")))
    assert sum(isinstance(m, PreconditionFailed) for m in moved) == 1
    winner = next(m for m in moved if not isinstance(m, PreconditionFailed))
    assert admin.get(f"/orders/{made[0].id}").json["status"] == winner.status


def test_a_new_promised_date_is_patched_as_json_text_and_null_removes_it(as_user: Any, catalog: Any) -> None:
    """A merge patch's dates are JSON text like everywhere else (a model with a before-validator once refused them)."""
    agent = as_user("agent.jakarta")
    order = _order(agent, agent.new_customer(branch_id="jakarta")["id"], promised_date="2026-12-20").json
    moved = agent.patch(f"/orders/{order['id']}", {"promised_date": "2026-12-24"}, headers={"If-Match": '"v1"'})
    assert moved.status_code == 200, moved.body
    assert moved.json["promised_date"] == "2026-12-24" and moved.json["history"][-1]["change"] == "promised_date"
    for bad in ("2026-02-30", "24-12-2026", 20261224):
        refused = agent.patch(f"/orders/{order['id']}", {"promised_date": bad}, headers={"If-Match": '"v2"'})
        assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "promised_date", bad
    cleared = agent.patch(f"/orders/{order['id']}", {"promised_date": None}, headers={"If-Match": '"v2"'})
    assert cleared.status_code == 200 and cleared.json["promised_date"] is None
