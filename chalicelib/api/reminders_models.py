"""Request and response models of reminders: a customer's due items."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from chalicelib import config as C
from chalicelib.api.models import Output, Strict, in_years_2000_to_2099
from chalicelib.domain.reminders import DueKind, NewDueItem


def _cents(value: float) -> float:
    exponent = Decimal(str(value)).as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        raise ValueError("may have at most 2 decimals")
    return value


class DueItemCreate(Strict):
    """Something of the customer's falling due: reminded C.REMINDER_OFFSETS_DAYS days before (T-7, T-1, T-0)."""

    kind: DueKind
    title: Annotated[str, StringConstraints(min_length=1, max_length=C.DUE_TITLE_MAX_CHARS)]
    due_date: Annotated[date, AfterValidator(in_years_2000_to_2099)]
    amount: Annotated[float, Field(ge=0, le=C.DUE_AMOUNT_MAX, allow_inf_nan=False), AfterValidator(_cents)] | None = None
    ref: Annotated[str, StringConstraints(min_length=1, max_length=C.REF_MAX_CHARS)] | None = None

    def to_domain(self) -> NewDueItem:
        return NewDueItem(kind=self.kind.value, title=self.title, due_date=self.due_date.isoformat(),
                          amount=self.amount, ref=self.ref)


class DueItemOut(Output):
    id: str
    customer_id: str
    kind: DueKind
    title: str
    due_date: str = Field(description="YYYY-MM-DD")
    amount: float | None = None
    ref: str | None = None
    created_at: str
    created_by: str


class DueItemList(Output):
    items: list[DueItemOut] = Field(description="soonest first")
