"""Revenue counters (exactly once, per branch and local day) and GET /analytics/revenue, and that erasing a
customer keeps the books: their orders stay, detached, and revenue is the same before and after."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.test_orders import _order
from tests.test_shipments import _confirmed, _ship, tracking


def _today() -> str:
    return datetime.now(ZoneInfo("Asia/Jakarta")).date().isoformat()


def _revenue(caller: Any, by: str = "day", branch: str = "surabaya") -> dict[str, Any]:
    day = _today()
    r = caller.get(f"/analytics/revenue?branch={branch}&from={day}&to={day}&by={by}")
    assert r.status_code == 200, r.body
    return dict(r.json)


def _move(caller: Any, order: dict[str, Any], *statuses: str, **fields: Any) -> dict[str, Any]:
    for status in statuses:
        current = caller.get(f"/orders/{order['id']}")
        r = caller.patch(f"/orders/{order['id']}", {"status": status, **fields},
                         headers={"If-Match": current.headers["ETag"]})
        assert r.status_code == 200, r.body
        order = r.json
    return order


def test_revenue_counts_each_order_once_by_its_state_and_an_erasure_keeps_it(
        as_user: Any, catalog: Any, stream_pump: Any) -> None:
    admin, agent = as_user("admin"), as_user("agent.surabaya")
    stream_pump.drain(30)
    before, before_cat = _revenue(admin), _revenue(admin, "category")
    buyer = agent.new_customer(branch_id="surabaya", name="Rina Pembeli")
    sold = _confirmed(agent, buyer["id"])  # oil and filter: 488,400.00
    _order(agent, buyer["id"])  # a draft: placed, not revenue
    _move(admin, _order(agent, buyer["id"]).json, "confirmed", "cancelled")  # only a manager or admin cancels it
    came_back = _confirmed(agent, buyer["id"])
    _ship(agent, came_back["id"], [{"line_no": 1, "qty": 4}, {"line_no": 2, "qty": 1}], tracking())
    _move(agent, came_back, "delivered", "returned", return_reason="damaged")
    stream_pump.drain(30)
    stream_pump.drain(30)  # a redelivered batch counts nothing twice (the counters' markers)
    after = _revenue(admin)

    def moved(name: str) -> Any:
        was, now = before["totals"][name], after["totals"][name]
        return Decimal(now) - Decimal(was) if isinstance(now, str) else now - was

    assert moved("net_revenue") == Decimal(sold["net_total"]) == Decimal("488400.00")
    assert (moved("orders"), moved("orders_placed"), moved("orders_delivered"), moved("returns")) == (1, 4, 1, 1)
    assert moved("returned_value") == Decimal(came_back["net_total"])
    [today] = after["items"]
    assert today["key"] == _today() and today["net_revenue"] == after["totals"]["net_revenue"]
    by_category = {row["key"]: row for row in _revenue(admin, "category")["items"]}
    old = {row["key"]: row for row in before_cat["items"]}
    grew = Decimal(by_category["oil_and_filter"]["net_revenue"]) - Decimal(
        old.get("oil_and_filter", {"net_revenue": "0"})["net_revenue"])
    assert grew == Decimal("488400.00")
    summary = admin.get(f"/analytics/summary?branch=surabaya&from={_today()}&to={_today()}").json
    assert summary["revenue"]["net_revenue"] == after["totals"]["net_revenue"]
    # marketing sees no money; a manager of another branch not this one's
    assert as_user("marketing").get("/analytics/revenue").status_code == 403
    assert as_user("manager.jakarta").get("/analytics/revenue?branch=surabaya").status_code == 403
    assert admin.get("/analytics/revenue?by=week").status_code == 400

    # erasure: the books stay, the person goes
    assert admin.delete(f"/customers/{buyer['id']}").status_code == 204
    stream_pump.drain(30)
    assert _revenue(admin)["totals"] == after["totals"]
    kept = admin.get(f"/orders/{sold['id']}").json
    assert kept["customer_id"].startswith("erased:") and buyer["id"] not in kept["customer_id"]
    assert kept["net_total"] == sold["net_total"] and kept["notify_customer"] is False
    assert sold["contact_phone"] == buyer["phone"] and kept["contact_phone"] is None  # the phone it was placed with
    shipped = admin.get(f"/orders/{came_back['id']}").json
    assert shipped["shipments"][0]["tracking_number"] and "Rina" not in str(shipped)
    assert admin.get(f"/customers/{buyer['id']}/orders").status_code == 404
    assert admin.get(f"/orders/lookup?phone={buyer['phone'].replace('+', '%2B')}").status_code == 404
