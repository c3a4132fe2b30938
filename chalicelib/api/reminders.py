"""Routes of reminders: a customer's due items, what the daily job reminds them of
(models: chalicelib/api/reminders_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.http import Call, Reply, RouteSpec, View

if TYPE_CHECKING:
    from chalicelib.api.reminders_models import DueItemCreate


def add_due_item(call: Call[DueItemCreate, None], customer_id: str) -> Reply:
    from chalicelib.services import reminders

    item = reminders.add(call.caller, customer_id, call.body.to_domain())
    return Reply(item.to_dict(), 201, {"Location": f"/customers/{customer_id}/due-items/{item.id}"})


def list_due_items(call: Call[None, None], customer_id: str) -> Reply:
    from chalicelib.services import reminders

    return Reply({"items": [d.to_dict() for d in reminders.list_for(call.caller, customer_id)]})


def get_due_item(call: Call[None, None], customer_id: str, item_id: str) -> Reply:
    from chalicelib.services import reminders

    return Reply(reminders.get(call.caller, customer_id, item_id).to_dict())


def delete_due_item(call: Call[None, None], customer_id: str, item_id: str) -> Reply:
    from chalicelib.services import reminders

    reminders.delete(call.caller, customer_id, item_id)
    return Reply(None, 204)


DUE = "/customers/{customer_id}/due-items"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", DUE, "due_items.create", "Record something falling due (service, installment, warranty, "
               "contract...): reminded 7 days, 1 day and on the day before", 201, response="DueItemOut",
               errors=(400, 401, 403, 404, 409, 413, 415, 422), headers=("Location",)), add_due_item),
    (RouteSpec("GET", DUE, "due_items.list", "A customer's due items, soonest first", response="DueItemList",
               errors=(400, 401, 403, 404)), list_due_items),
    (RouteSpec("GET", DUE + "/{item_id}", "due_items.get", "One due item (what the Location of a new one names)",
               response="DueItemOut", errors=(400, 401, 403, 404)), get_due_item),
    (RouteSpec("DELETE", DUE + "/{item_id}", "due_items.delete", "Delete a due item (no more reminders)", 204,
               errors=(400, 401, 403, 404)), delete_due_item),
]
