"""Routes of the customers area: profiles, their history and their timeline."""

from __future__ import annotations

from typing import Any

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.customers import Customer

PAGE_ERRORS = (400, 401, 403, 404)


def _services() -> Any:
    # Imported on first call: the services pull in PynamoDB (botocore), which
    # the cold start of /health and of the authorizer should not pay for.
    from chalicelib.services import customers, interactions

    return customers, interactions


def _customer_reply(c: Customer, status: int = 200, **headers: str) -> Reply:
    return Reply(c.to_dict(), status, {"ETag": c.etag, **headers})


def _scope(call: Call, *parts: Any) -> str:
    """What a cursor is bound to: the route, its filters and the caller's branch scope."""
    assert call.access is not None
    return "|".join([call.access.operation, str(call.access.branch), *map(str, parts)])


def create_customer(call: Call) -> Reply:
    assert call.access is not None
    customers, _ = _services()
    c = customers.create(call.access, call.body.model_dump(exclude_unset=False))
    return _customer_reply(c, 201, Location=f"/customers/{c.id}")


def get_customer(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    customers, _ = _services()
    return _customer_reply(customers.get(call.access, customer_id))


def patch_customer(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    patch = {name: getattr(call.body, name) for name in call.fields_sent}
    if "consent" in patch and patch["consent"] is not None:
        patch["consent"] = patch["consent"].model_dump(exclude_none=True)
    customers, _ = _services()
    c = customers.update(call.access, customer_id, call.header("If-Match"), patch)
    return _customer_reply(c)


def put_consent(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    customers, _ = _services()
    return _customer_reply(customers.set_consent(call.access, customer_id, call.body.model_dump(exclude_none=True)))


def delete_customer(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    customers, _ = _services()
    customers.delete(call.access, customer_id)
    return Reply(None, 204)


def list_customers(call: Call) -> Reply:
    assert call.access is not None
    q = call.query
    stage = q.stage.value if q.stage else None
    scope = _scope(call, q.branch, stage, q.tag, q.q)
    customers, _ = _services()
    items, next_key = customers.list_page(
        call.access, branch=q.branch, stage=stage, tag=q.tag, q=q.q,
        limit=q.limit, start_key=cursors.decode(q.cursor, scope),
    )
    return Reply({"items": [c.to_dict() for c in items], "next_cursor": cursors.encode(next_key, scope)})


def lookup_customer(call: Call) -> Reply:
    assert call.access is not None
    customers, _ = _services()
    return _customer_reply(customers.lookup(call.access, phone=call.query.phone, email=call.query.email))


def add_interaction(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    _, interactions = _services()
    i = interactions.add(call.access, customer_id, call.body.model_dump())
    return Reply(i.to_dict(), 201, {"Location": f"/customers/{customer_id}/interactions/{i.id}"})


def list_interactions(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    scope = _scope(call, customer_id)
    _, interactions = _services()
    items, next_key = interactions.history(
        call.access, customer_id, call.query.limit, cursors.decode(call.query.cursor, scope)
    )
    return Reply({"items": [i.to_dict() for i in items], "next_cursor": cursors.encode(next_key, scope)})


def customer_timeline(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    scope = _scope(call, customer_id)
    _, interactions = _services()
    items, next_key = interactions.timeline(
        call.access, customer_id, call.query.limit, cursors.decode(call.query.cursor, scope)
    )
    return Reply({"items": items, "next_cursor": cursors.encode(next_key, scope)})


ONE = "/customers/{customer_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/customers", "customers.create", "Create a customer", 201,
               body="CustomerCreate", response="CustomerOut", errors=(400, 401, 403, 409, 413, 415, 422),
               headers=("ETag", "Location")), create_customer),
    (RouteSpec("GET", "/customers", "customers.list", "List or search customers",
               query="CustomerListQuery", response="CustomerPage", errors=(400, 401, 403)), list_customers),
    (RouteSpec("GET", "/customers/lookup", "customers.lookup", "Find a customer by phone or email",
               query="LookupQuery", response="CustomerOut", errors=(400, 401, 403, 404), headers=("ETag",)),
     lookup_customer),
    (RouteSpec("GET", ONE, "customers.get", "Read a customer", response="CustomerOut",
               errors=(400, 401, 403, 404), headers=("ETag",)), get_customer),
    (RouteSpec("PATCH", ONE, "customers.update", "Change a customer (JSON merge patch, If-Match required)",
               body="CustomerPatch", response="CustomerOut",
               errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)), patch_customer),
    (RouteSpec("DELETE", ONE, "customers.delete", "Erase a customer and all their history", 204,
               errors=(400, 401, 403, 404)), delete_customer),
    (RouteSpec("PUT", ONE + "/consent", "customers.consent", "Set marketing consent (SMS, email) with its source",
               body="ConsentSet", response="CustomerOut", errors=(400, 401, 403, 404, 412, 413, 415),
               headers=("ETag",)), put_consent),
    (RouteSpec("POST", ONE + "/interactions", "interactions.create", "Record an interaction", 201,
               body="InteractionCreate", response="InteractionOut",
               errors=(400, 401, 403, 404, 409, 413, 415, 422), headers=("Location",)), add_interaction),
    (RouteSpec("GET", ONE + "/interactions", "interactions.list", "A customer's interactions, newest first",
               query="PageQuery", response="InteractionPage", errors=PAGE_ERRORS), list_interactions),
    (RouteSpec("GET", ONE + "/timeline", "customers.timeline", "Everything that happened with a customer, newest first",
               query="PageQuery", response="TimelinePage", errors=PAGE_ERRORS), customer_timeline),
]
