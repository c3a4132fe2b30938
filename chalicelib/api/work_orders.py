"""Routes of work orders: open one for a vehicle, read it ("how is my car?"), move it along, the branch's board
(models: chalicelib/api/work_orders_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.http import Call, Reply, RouteSpec, View

if TYPE_CHECKING:
    from chalicelib.api.work_orders_models import BoardQuery, WorkOrderCreate, WorkOrderPatch, WorkOrderQuery
    from chalicelib.domain.work_orders import WorkOrder


def _reply(w: WorkOrder, status: int = 200, language: str | None = None, **headers: str) -> Reply:
    from chalicelib.services.appointments import zone

    return Reply(w.to_dict(zone(), language), status, {"ETag": w.etag, **headers})


def open_work_order(call: Call[WorkOrderCreate, None], vin: str) -> Reply:
    from chalicelib.services import work_orders

    w = work_orders.open_for(call.caller, vin, call.body.to_domain())
    return _reply(w, 201, Location=f"/work-orders/{w.id}")


def get_work_order(call: Call[None, WorkOrderQuery], work_order_id: str) -> Reply:
    from chalicelib.services import work_orders

    return _reply(work_orders.get(call.caller, work_order_id), language=call.query.lang)


def patch_work_order(call: Call[WorkOrderPatch, None], work_order_id: str) -> Reply:
    from chalicelib.services import work_orders

    return _reply(work_orders.update(call.caller, work_order_id, call.header("If-Match"), call.body.to_domain()))


def work_order_board(call: Call[None, BoardQuery]) -> Reply:
    from chalicelib.domain.errors import BadRequest
    from chalicelib.services import work_orders
    from chalicelib.services.appointments import zone

    q = call.query
    branch = q.branch or call.caller.principal.branch
    if not branch:
        raise BadRequest("Name the branch: /work-orders?branch=<branch>.")
    found = work_orders.board(call.caller, branch, q.status.value if q.status else None)
    return Reply({"items": [e.to_dict(zone()) for e in found]})


def invoice_work_order(call: Call[None, None], work_order_id: str) -> Reply:
    from chalicelib.services import work_orders

    w, order, created = work_orders.invoice(call.caller, work_order_id)
    return Reply({"work_order_id": w.id, "order": order.to_dict()}, 201 if created else 200,
                 {"Location": f"/orders/{order.id}"})


ONE = "/work-orders/{work_order_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/vehicles/{vin}/work-orders", "work_orders.create",
               "Open a work order for a vehicle (at check-in; an appointment named is checked in)", 201,
               response="WorkOrderOut", errors=(400, 401, 403, 404, 409, 413, 415), headers=("ETag", "Location")),
     open_work_order),
    (RouteSpec("GET", "/work-orders", "work_orders.list",
               "A branch's open work orders by status, soonest ETA first (the workshop board)", response="Board",
               errors=(400, 401, 403)), work_order_board),
    (RouteSpec("GET", ONE, "work_orders.get",
               "A work order with its status as a sentence to read out, its ETA and last five changes",
               response="WorkOrderOut", errors=(400, 401, 403, 404), headers=("ETag",)), get_work_order),
    (RouteSpec("PATCH", ONE, "work_orders.update",
               "Move a work order along, set its stage, ETA or estimate, record the approval (If-Match required)",
               response="WorkOrderOut", errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)),
     patch_work_order),
    (RouteSpec("POST", ONE + "/invoice", "work_orders.invoice",
               "Invoice a completed work order as an order (one line per job; again: the same order)", 201,
               response="Invoice", errors=(400, 401, 403, 404, 409), headers=("Location",)), invoice_work_order),
]
