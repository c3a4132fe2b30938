"""Request and response models of the catalog. Money is a JSON string of digits with at most 2 decimals."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from chalicelib import config as C
from chalicelib.api.models import Output, PageQuery, Strict
from chalicelib.domain.money import parse_money
from chalicelib.domain.products import Category, NewProduct, ProductChanges, Unit, normalize_sku

Sku = Annotated[str, StringConstraints(min_length=2, max_length=40), AfterValidator(normalize_sku)]
MoneyText = Annotated[str, StringConstraints(min_length=1, max_length=16), AfterValidator(lambda v: str(parse_money(v))),
                      Field(examples=["1250000.00"], description="IDR, digits with at most 2 decimals, as a string")]
ProductName = Annotated[str, StringConstraints(min_length=1, max_length=C.NAME_MAX_CHARS)]


class ProductCreate(Strict):
    sku: Sku
    name: ProductName
    category: Category
    unit: Unit
    list_price: MoneyText
    cost_price: MoneyText | None = None
    active: bool = True

    def to_domain(self) -> NewProduct:
        return NewProduct(sku=self.sku, name=self.name, category=self.category.value, unit=self.unit.value,
                          list_price=parse_money(self.list_price),
                          cost_price=parse_money(self.cost_price) if self.cost_price is not None else None,
                          active=self.active)


class ProductPatch(Strict):
    """JSON merge patch of the writable fields; `cost_price: null` removes the cost price."""

    name: ProductName = None  # type: ignore[assignment]
    category: Category = None  # type: ignore[assignment]
    unit: Unit = None  # type: ignore[assignment]
    list_price: MoneyText = None  # type: ignore[assignment]
    cost_price: MoneyText | None = None
    active: bool = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("name", "category", "unit", "list_price", "active"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be removed")
        return data

    def to_domain(self) -> ProductChanges:
        return ProductChanges(
            sent=frozenset(self.model_fields_set), name=self.name,
            category=self.category.value if self.category else None, unit=self.unit.value if self.unit else None,
            list_price=parse_money(self.list_price) if self.list_price is not None else None,
            cost_price=parse_money(self.cost_price) if self.cost_price is not None else None, active=self.active)


class PriceChangeOut(Output):
    at: str
    by: str
    field: str = Field(description="list_price, or cost_price (admins only)")
    old: str | None
    new: str | None


class ProductOut(Output):
    sku: str
    name: str
    category: Category
    unit: Unit
    list_price: str
    cost_price: str | None = Field(default=None, description="admins only; absent for everyone else")
    active: bool
    created_at: str
    updated_at: str
    version: int
    price_history: list[PriceChangeOut]


class ProductPage(Output):
    items: list[ProductOut]
    next_cursor: str | None


class ProductListQuery(PageQuery):
    category: Category | None = None
    q: Annotated[str, StringConstraints(min_length=1, max_length=C.NAME_MAX_CHARS)] | None = Field(
        default=None, description="name prefix (accents and case ignored), or an sku's start")
    active: bool | None = None
