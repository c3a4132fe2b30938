"""Routes of the catalog: add, list or search, read, change a product (models: chalicelib/api/products_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.products import Product, sees_cost

if TYPE_CHECKING:
    from chalicelib.api.products_models import ProductCreate, ProductListQuery, ProductPatch


def _reply(call: Call[Any, Any], p: Product, status: int = 200, **headers: str) -> Reply:
    return Reply(p.to_dict(with_cost=sees_cost(call.caller.principal)), status, {"ETag": p.etag, **headers})


def create_product(call: Call[ProductCreate, None]) -> Reply:
    from chalicelib.services import products

    p = products.create(call.caller, call.body.to_domain())
    return _reply(call, p, 201, Location=f"/products/{p.sku}")


def get_product(call: Call[None, None], sku: str) -> Reply:
    from chalicelib.services import products

    return _reply(call, products.get(call.caller, sku))


def patch_product(call: Call[ProductPatch, None], sku: str) -> Reply:
    from chalicelib.services import products

    return _reply(call, products.update(call.caller, sku, call.header("If-Match"), call.body.to_domain()))


def list_products(call: Call[None, ProductListQuery]) -> Reply:
    from chalicelib.services import products

    q = call.query
    category = q.category.value if q.category else None
    scope = "|".join(map(str, [call.caller.operation, category, q.q, q.active]))
    items, next_key = products.list_page(call.caller, category=category, q=q.q, active=q.active, limit=q.limit,
                                         start_key=cursors.decode(q.cursor, scope))
    with_cost = sees_cost(call.caller.principal)
    return Reply({"items": [p.to_dict(with_cost=with_cost) for p in items],
                  "next_cursor": cursors.encode(next_key, scope)})


ONE = "/products/{sku}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/products", "products.create", "Add a product to the catalog", 201, response="ProductOut",
               errors=(400, 401, 403, 409, 413, 415), headers=("ETag", "Location")), create_product),
    (RouteSpec("GET", "/products", "products.list", "List or search the catalog by category and name",
               response="ProductPage", errors=(400, 401, 403)), list_products),
    (RouteSpec("GET", ONE, "products.get", "Read a product with its price history", response="ProductOut",
               errors=(400, 401, 403, 404), headers=("ETag",)), get_product),
    (RouteSpec("PATCH", ONE, "products.update", "Change a product (JSON merge patch, If-Match required)",
               response="ProductOut", errors=(400, 401, 403, 404, 412, 413, 415, 428), headers=("ETag",)),
     patch_product),
]
