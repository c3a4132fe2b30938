"""Catalog use cases: add a product, read one, list or search the catalog, change it (If-Match)."""

from __future__ import annotations

from chalicelib.domain import products as rules
from chalicelib.domain.access import Access
from chalicelib.domain.clock import utcnow
from chalicelib.domain.customers import name_key
from chalicelib.domain.errors import NotFound
from chalicelib.domain.products import NewProduct, Product, ProductChanges
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import products as repo
from chalicelib.persistence.paging import RawKey


def create(access: Access, new: NewProduct) -> Product:
    product = rules.create(new, by=access.principal.sub, now=utcnow())
    repo.create(product)
    return product


def get(access: Access, sku: str) -> Product:
    try:
        sku = rules.normalize_sku(sku)
    except ValueError:
        raise NotFound("No such record.") from None  # no product can have it
    product = repo.get(sku)
    if product is None:
        raise NotFound("No such record.")
    return product


def update(access: Access, sku: str, if_match: str | None, changes: ProductChanges) -> Product:
    current = get(access, sku)
    require_if_match(if_match, current.version, "product")
    updated, price_changes = rules.change(current, changes, by=access.principal.sub, now=utcnow())
    if updated is current:
        return current
    repo.update(current, updated, price_changes)
    return updated


def list_page(access: Access, *, category: str | None, q: str | None, active: bool | None, limit: int,
              start_key: RawKey | None) -> tuple[list[Product], RawKey | None]:
    return repo.list_page(category=category, name_prefix=name_key(q) if q else None, active=active, limit=limit,
                          start_key=start_key)
