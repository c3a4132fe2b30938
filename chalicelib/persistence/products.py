"""Product repository: a product and its price history in its own partition (`P#<sku>`), the catalog index
(`cat_pk=CATALOG`, `cat_sk=<category>#<name key>#<sku>`: all products, a category, a name prefix within one,
each one Query)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import Conflict, NotFound, PreconditionFailed
from chalicelib.domain.money import money_text
from chalicelib.domain.products import PriceChange, Product
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import RawKey, query_all, query_page
from chalicelib.persistence.tables import HISTORY_PREFIX, Item, PriceChangeItem, ProductItem
from chalicelib.persistence.tx import conflicted, connection, failed_codes

PRODUCT_SK = "PRODUCT"
CATALOG_PK = "CATALOG"


def product_pk(sku: str) -> str:
    return f"P#{sku}"


NAME_KEY_MAX_CHARS = 200  # of the catalog key: a GSI sort key holds at most 1,024 bytes (4 per character here)


def _catalog_sk(p: Product) -> str:
    return f"{p.category}#{p.name_key[:NAME_KEY_MAX_CHARS]}#{p.sku}"


def _money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def to_item(p: Product) -> ProductItem:
    return ProductItem(pk=product_pk(p.sku), sk=PRODUCT_SK, sku=p.sku, name=p.name, category=p.category, unit=p.unit,
                       list_price=money_text(p.list_price), cost_price=money_text(p.cost_price), active=p.active,
                       created_at=p.created_at, updated_at=p.updated_at, created_by=p.created_by, version=p.version,
                       cat_pk=CATALOG_PK, cat_sk=_catalog_sk(p))


def from_item(item: ProductItem, history: list[PriceChange] | None = None) -> Product:
    return Product(sku=item.sku, name=item.name, category=item.category, unit=item.unit,
                   list_price=Decimal(item.list_price), cost_price=_money(item.cost_price), active=bool(item.active),
                   created_at=item.created_at, updated_at=item.updated_at, created_by=item.created_by,
                   version=int(item.version), price_history=history or [])


def _history_items(p: Product, changes: list[PriceChange], first_seq: int) -> list[PriceChangeItem]:
    return [PriceChangeItem(pk=product_pk(p.sku), sk=f"{HISTORY_PREFIX}{c.at}#{first_seq + n:04d}", at=c.at, by=c.by,
                            field=c.field, old=money_text(c.old), new=money_text(c.new))
            for n, c in enumerate(changes)]


def create(p: Product) -> None:
    """Conflict (naming the sku) when a product has this sku already."""
    try:
        with translated():
            to_item(p).save(condition=ProductItem.pk.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("A product with this sku exists already.", existing_sku=p.sku) from None
        raise


def get(sku: str) -> Product | None:
    """The product and its whole price history, oldest first: one Query."""
    items = query_all(product_pk(sku))
    product = next((i for i in items if isinstance(i, ProductItem)), None)
    if product is None:
        return None
    history = [PriceChange(at=h.at, by=h.by, field=h.field, old=_money(h.old), new=_money(h.new))
               for h in items if isinstance(h, PriceChangeItem)]
    return from_item(product, history)


def update(old: Product, new: Product, changes: list[PriceChange]) -> None:
    """The product if its version is unchanged, with its price changes, in one transaction."""
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(to_item(new), condition=ProductItem.version == old.version, return_values="ALL_OLD")
            for h in _history_items(new, changes, len(old.price_history)):
                tx.save(h)
    except TransactWriteError as exc:
        reasons = [r for r in exc.cancellation_reasons if r is not None and r.code == "ConditionalCheckFailed"]
        if reasons and not reasons[0].raw_item:
            raise NotFound("No such record.") from exc
        if "ConditionalCheckFailed" in failed_codes(exc) or conflicted(exc):
            raise PreconditionFailed("The product was changed by someone else; fetch it again.") from exc
        raise


def list_page(*, category: str | None, name_prefix: str | None, active: bool | None, limit: int,
              start_key: RawKey | None) -> tuple[list[Product], RawKey | None]:
    """The catalog by category and name. A name prefix within a category narrows the key; across categories it
    filters (the catalog is head office's few thousand products: one Query either way)."""
    key = ProductItem.cat_sk
    conditions: list[Any] = []
    if name_prefix is not None:
        name_prefix = name_prefix[:NAME_KEY_MAX_CHARS]
    if category and name_prefix:
        range_condition = key.startswith(f"{category}#{name_prefix}")
    elif category:
        range_condition = key.startswith(f"{category}#")
    else:
        range_condition = None
        if name_prefix:  # the name's search form starts after the category (or an sku after the name)
            conditions.append(ProductItem.cat_sk.contains(f"#{name_prefix}")
                              | ProductItem.cat_sk.contains(f"#{name_prefix.upper()}"))
    if active is not None:
        conditions.append(ProductItem.active == active)
    filter_condition = None
    for condition in conditions:
        filter_condition = condition if filter_condition is None else filter_condition & condition
    page = query_page(CATALOG_PK, index_name="catalog", limit=limit, start_key=start_key,
                      range_key_condition=range_condition, filter_condition=filter_condition, newest_first=False)
    return [from_item(i) for i in page.items if isinstance(i, ProductItem)], page.next_key


def get_many(skus: list[str]) -> dict[str, Product]:
    """The products of `skus` that exist, by sku (without history): BatchGetItem, 100 keys a request."""
    wanted = sorted(set(skus))
    found: dict[str, Product] = {}
    with translated():
        for start in range(0, len(wanted), 100):
            for item in Item.batch_get([(product_pk(s), PRODUCT_SK) for s in wanted[start:start + 100]]):
                if isinstance(item, ProductItem):
                    found[item.sku] = from_item(item)
    return found


def load(products: list[Product]) -> None:
    """Bulk load for demo data: batch writes, no conditions. The caller guarantees unique skus."""
    with translated(), Item.batch_write() as batch:
        for p in products:
            batch.save(to_item(p))
