"""Routes of interactions: record one, a customer's history and timeline (models: interactions_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api import cursors
from chalicelib.api.customers import scope_of
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.clock import utcnow
from chalicelib.domain.complaints import Complaint

if TYPE_CHECKING:
    from chalicelib.api.interactions_models import InteractionCreate
    from chalicelib.api.models import PageQuery


def add_interaction(call: Call[InteractionCreate, None], customer_id: str) -> Reply:
    from chalicelib.services import interactions

    i = interactions.add(call.caller, customer_id, call.body.to_domain())
    return Reply(i.to_dict(), 201, {"Location": f"/customers/{customer_id}/interactions/{i.id}"})


def get_interaction(call: Call[None, None], customer_id: str, interaction_id: str) -> Reply:
    from chalicelib.services import interactions

    return Reply(interactions.get(call.caller, customer_id, interaction_id).to_dict())


def list_interactions(call: Call[None, PageQuery], customer_id: str) -> Reply:
    from chalicelib.services import interactions

    scope = scope_of(call, customer_id)
    items, next_key = interactions.history(call.caller, customer_id, call.query.limit,
                                           cursors.decode(call.query.cursor, scope))
    return Reply({"items": [i.to_dict() for i in items], "next_cursor": cursors.encode(next_key, scope)})


def customer_timeline(call: Call[None, PageQuery], customer_id: str) -> Reply:
    from chalicelib.services import interactions

    scope = scope_of(call, customer_id)
    items, next_key = interactions.timeline(call.caller, customer_id, call.query.limit,
                                            cursors.decode(call.query.cursor, scope))
    now = utcnow()
    entries = [x.to_timeline_item(now) if isinstance(x, Complaint) else x.to_timeline_item() for x in items]
    return Reply({"items": entries, "next_cursor": cursors.encode(next_key, scope)})


ONE = "/customers/{customer_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", ONE + "/interactions", "interactions.create", "Record an interaction", 201,
               response="InteractionOut", errors=(400, 401, 403, 404, 409, 413, 415, 422), headers=("Location",)),
     add_interaction),
    (RouteSpec("GET", ONE + "/interactions", "interactions.list", "A customer's interactions, newest first",
               response="InteractionPage", errors=(400, 401, 403, 404)), list_interactions),
    (RouteSpec("GET", ONE + "/interactions/{interaction_id}", "interactions.get", "One interaction (what the "
               "Location of a recorded one names)", response="InteractionOut", errors=(400, 401, 403, 404)),
     get_interaction),
    (RouteSpec("GET", ONE + "/timeline", "customers.timeline", "Everything that happened with a customer, newest first",
               response="TimelinePage", errors=(400, 401, 403, 404)), customer_timeline),
]
