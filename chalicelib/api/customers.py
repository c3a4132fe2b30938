"""Routes of customers: profiles, listing and search, the screen-pop lookup, erasure.

Each view takes a typed `Call[Body, Query]` (its models: chalicelib/api/customers_models.py)
and calls one use case of chalicelib/services/customers.py, imported on first use:
the services pull in PynamoDB (botocore), which the cold start of /health and of
the authorizer should not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.customers import Customer

if TYPE_CHECKING:
    from chalicelib.api.customers_models import CustomerCreate, CustomerListQuery, CustomerPatch, LookupQuery


def customer_reply(c: Customer, status: int = 200, **headers: str) -> Reply:
    return Reply(c.to_dict(), status, {"ETag": c.etag, **headers})


def scope_of(call: Call[Any, Any], *parts: Any) -> str:
    """What a cursor is bound to: the route, its filters and the caller's branch scope."""
    return "|".join([call.caller.operation, str(call.caller.branch), *map(str, parts)])


def create_customer(call: Call[CustomerCreate, None]) -> Reply:
    from chalicelib.services import customers

    c = customers.create(call.caller, call.body.to_domain())
    return customer_reply(c, 201, Location=f"/customers/{c.id}")


def get_customer(call: Call[None, None], customer_id: str) -> Reply:
    from chalicelib.services import customers

    return customer_reply(customers.get(call.caller, customer_id))


def patch_customer(call: Call[CustomerPatch, None], customer_id: str) -> Reply:
    from chalicelib.services import customers

    return customer_reply(customers.update(call.caller, customer_id, call.header("If-Match"), call.body.to_domain()))


def delete_customer(call: Call[None, None], customer_id: str) -> Reply:
    from chalicelib.services import customers

    customers.delete(call.caller, customer_id)
    return Reply(None, 204)


def list_customers(call: Call[None, CustomerListQuery]) -> Reply:
    from chalicelib.services import customers

    q = call.query
    stage = q.stage.value if q.stage else None
    scope = scope_of(call, q.branch, stage, q.tag, q.q)
    items, next_key = customers.list_page(
        call.caller, branch=q.branch, stage=stage, tag=q.tag, q=q.q,
        limit=q.limit, start_key=cursors.decode(q.cursor, scope),
    )
    return Reply({"items": [c.to_dict() for c in items], "next_cursor": cursors.encode(next_key, scope)})


def lookup_customer(call: Call[None, LookupQuery]) -> Reply:
    from chalicelib.services import customers

    return customer_reply(customers.lookup(call.caller, phone=call.query.phone, email=call.query.email))


ONE = "/customers/{customer_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/customers", "customers.create", "Create a customer", 201, response="CustomerOut",
               errors=(400, 401, 403, 409, 413, 415, 422), headers=("ETag", "Location")), create_customer),
    (RouteSpec("GET", "/customers", "customers.list", "List or search customers", response="CustomerPage",
               errors=(400, 401, 403)), list_customers),
    (RouteSpec("GET", "/customers/lookup", "customers.lookup", "Find a customer by phone or email",
               response="CustomerOut", errors=(400, 401, 403, 404), headers=("ETag",)), lookup_customer),
    (RouteSpec("GET", ONE, "customers.get", "Read a customer", response="CustomerOut",
               errors=(400, 401, 403, 404), headers=("ETag",)), get_customer),
    (RouteSpec("PATCH", ONE, "customers.update", "Change a customer (JSON merge patch, If-Match required)",
               response="CustomerOut", errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)),
     patch_customer),
    (RouteSpec("DELETE", ONE, "customers.delete", "Erase a customer and all their history", 204,
               errors=(400, 401, 403, 404, 409)), delete_customer),
]
