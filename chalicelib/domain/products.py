"""The catalog: products head office sells, their prices, and every price change (who, when, old, new).

Money is exact: `Decimal` IDR with 2 decimals (chalicelib/domain/money.py), sent and returned as JSON strings.
The cost price is for head office: only admins see it (`visible_to`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from chalicelib.domain.access import Principal, Role
from chalicelib.domain.clock import iso
from chalicelib.domain.customers import name_key
from chalicelib.domain.money import money_text
from chalicelib.domain.versions import etag_for

SKU_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9._-]{1,39}")


class Category(StrEnum):
    VEHICLE = "vehicle"
    SPARE_PART = "spare_part"
    OIL_AND_FILTER = "oil_and_filter"
    SERVICE_PACKAGE = "service_package"
    ACCESSORY = "accessory"


class Unit(StrEnum):
    PCS = "pcs"
    UNIT = "unit"
    SET = "set"
    LITRE = "litre"
    KG = "kg"
    HOUR = "hour"
    PACKAGE = "package"


PRICE_FIELDS = ("list_price", "cost_price")


def normalize_sku(raw: str) -> str:
    """Upper case; letters, digits and . _ - after the first character, 2 to 40 in all. ValueError otherwise."""
    sku = raw.strip().upper()
    if not SKU_PATTERN.fullmatch(sku):
        raise ValueError("must be 2-40 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return sku


@dataclass(frozen=True)
class PriceChange:
    """One change of a price, as its history keeps it."""

    at: str
    by: str
    field: str  # list_price | cost_price
    old: Decimal | None
    new: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "field": self.field,
                "old": money_text(self.old), "new": money_text(self.new)}


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    category: str
    unit: str
    list_price: Decimal
    cost_price: Decimal | None = None
    active: bool = True


@dataclass(frozen=True)
class ProductChanges:
    """What a PATCH asks for: the fields in `sent` change."""

    sent: frozenset[str]
    name: str | None = None
    category: str | None = None
    unit: str | None = None
    list_price: Decimal | None = None
    cost_price: Decimal | None = None
    active: bool | None = None


@dataclass
class Product:
    sku: str
    name: str
    category: str
    unit: str
    list_price: Decimal
    created_at: str
    updated_at: str
    created_by: str
    cost_price: Decimal | None = None
    active: bool = True
    version: int = 1
    price_history: list[PriceChange] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    @property
    def name_key(self) -> str:
        return name_key(self.name)

    def to_dict(self, *, with_cost: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sku": self.sku, "name": self.name, "category": self.category, "unit": self.unit,
            "list_price": money_text(self.list_price), "active": self.active, "created_at": self.created_at,
            "updated_at": self.updated_at, "version": self.version,
            "price_history": [c.to_dict() for c in self.price_history if with_cost or c.field != "cost_price"],
        }
        if with_cost:
            body["cost_price"] = money_text(self.cost_price)
        return body


def sees_cost(principal: Principal) -> bool:
    """Cost prices are head office's: admins only (never agents, managers or marketing)."""
    return Role.ADMIN in principal.roles


def create(new: NewProduct, *, by: str, now: datetime) -> Product:
    stamp = iso(now)
    return Product(sku=new.sku, name=new.name, category=new.category, unit=new.unit, list_price=new.list_price,
                   cost_price=new.cost_price, active=new.active, created_at=stamp, updated_at=stamp, created_by=by)


def change(current: Product, changes: ProductChanges, *, by: str, now: datetime) -> tuple[Product, list[PriceChange]]:
    """`current` with `changes` applied, and the price changes to keep in its history ([] when nothing moved a
    price). The same product object back when nothing changes at all."""
    stamp = iso(now)
    fields: dict[str, Any] = {}
    for name in ("name", "category", "unit", "active", *PRICE_FIELDS):
        if name in changes.sent and getattr(changes, name) != getattr(current, name):
            if name == "list_price" and changes.list_price is None:
                continue  # the list price cannot be removed (the request model refuses it too)
            fields[name] = getattr(changes, name)
    if not fields:
        return current, []
    history = [PriceChange(at=stamp, by=by, field=name, old=getattr(current, name), new=fields[name])
               for name in PRICE_FIELDS if name in fields]
    updated = replace(current, **fields, updated_at=stamp, version=current.version + 1,
                      price_history=[*current.price_history, *history])
    return updated, history
