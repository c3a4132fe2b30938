"""Request and response models of orders. Money, quantities and tax rates are JSON strings (exact decimals)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, model_validator

from chalicelib.api.analytics_models import QueryDate
from chalicelib.api.customers_models import Phone
from chalicelib.api.models import BranchId, Day, Output, PageQuery, QueryInput, Strict
from chalicelib.api.products_models import MoneyText, Sku
from chalicelib.domain.money import parse_money
from chalicelib.domain.orders import LINES_MAX, Channel, NewLine, NewOrder, OrderChanges, PaymentStatus, ReturnReason
from chalicelib.domain.orders import Status as OrderStatus
from chalicelib.domain.shipments import ShipmentStatus

QTY_MAX = Decimal("100000")


def _qty(value: Any) -> Any:
    """A whole number, or a string of digits with up to 3 decimals (litres, hours), more than 0."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError('must be a whole number or a decimal string such as "1.5"')
    text = str(value)
    if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,3})?", text) or not Decimal("0") < Decimal(text) <= QTY_MAX:
        raise ValueError(f"must be more than 0 and at most {QTY_MAX}, with up to 3 decimals")
    return text


def _rate(value: str) -> str:
    if not re.fullmatch(r"(0(\.[0-9]{1,4})?|1(\.0{1,4})?)", value):
        raise ValueError('must be a fraction from "0" to "1" with up to 4 decimals, e.g. "0.11" for 11% PPN')
    return value


Qty = Annotated[str, BeforeValidator(_qty), Field(examples=["2", "4.5"])]
TaxRate = Annotated[str, StringConstraints(min_length=1, max_length=6), AfterValidator(_rate),
                    Field(examples=["0.11"], description="a fraction: 0.11 for 11% PPN")]
def _manual_number(value: str) -> str:
    if re.fullmatch(r"[A-Za-z]{3}-[0-9]{4}-[0-9]+", value):
        raise ValueError("must not look like a generated number (<BRANCH>-<year>-<n>): leave it out to get one")
    if value.upper().startswith("WO-"):
        raise ValueError("must not start with WO- (the numbers of work orders' invoices)")
    return value


AnyOrderNo = Annotated[str, StringConstraints(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_-]*$")]
OrderNo = Annotated[AnyOrderNo, AfterValidator(_manual_number)]  # one a client chooses
# a reference code of another system, never free text (an order outlives its customer's erasure)
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/_.-]*$")]
PromisedDate = Day


class OrderLineIn(Strict):
    sku: Sku
    qty: Qty
    unit_price: MoneyText | None = Field(default=None, description="default: the product's list price")
    discount_amount: MoneyText = "0.00"
    tax_rate: TaxRate = "0"

    def to_domain(self) -> NewLine:
        return NewLine(sku=self.sku, qty=Decimal(self.qty),
                       unit_price=parse_money(self.unit_price) if self.unit_price is not None else None,
                       discount_amount=parse_money(self.discount_amount), tax_rate=Decimal(self.tax_rate))


class OrderCreate(Strict):
    """A new order of the customer (it takes the customer's branch). Totals are the server's; a client that sends
    its own and gets them wrong gets 422."""

    order_no: OrderNo | None = Field(default=None, description="default: <BRANCH>-<year>-<n>, per branch")
    channel: Channel
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=LINES_MAX)]
    promised_date: PromisedDate | None = None
    notify_customer: bool = True
    ref: Ref | None = None
    contact_phone: Phone | None = Field(default=None, description=(
        "the number the order is placed with when it is not the customer's own (a phone order from another "
        "number, a delivery contact); default: the customer's phone. Kept with the order until the customer's "
        "erasure; the export keeps only its pseudonym (the shared-phone transaction flag)"))
    subtotal: MoneyText | None = None
    discount_total: MoneyText | None = None
    tax_total: MoneyText | None = None
    net_total: MoneyText | None = None

    def to_domain(self) -> NewOrder:
        sent = {name: parse_money(getattr(self, name)) for name in ("subtotal", "discount_total", "tax_total",
                                                                     "net_total") if getattr(self, name) is not None}
        return NewOrder(channel=self.channel.value, lines=tuple(line.to_domain() for line in self.lines),
                        promised_date=self.promised_date.isoformat() if self.promised_date else None,
                        order_no=self.order_no.upper() if self.order_no else None,
                        notify_customer=self.notify_customer, ref=self.ref, totals=sent,
                        contact_phone=self.contact_phone)


class OrderPatch(Strict):
    """A move along the lifecycle (`status`; `returned` needs `return_reason`), of the payment, or a new promised
    date (null removes it); If-Match required."""

    status: OrderStatus = None  # type: ignore[assignment]
    payment_status: PaymentStatus = None  # type: ignore[assignment]
    return_reason: ReturnReason | None = None
    promised_date: PromisedDate | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("status", "payment_status"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be removed")
        return data

    def to_domain(self) -> OrderChanges:
        return OrderChanges(sent=frozenset(self.model_fields_set),
                            status=self.status.value if self.status else None,
                            payment_status=self.payment_status.value if self.payment_status else None,
                            return_reason=self.return_reason.value if self.return_reason else None,
                            promised_date=self.promised_date.isoformat() if self.promised_date else None)


class OrderLineOut(Output):
    line_no: int
    sku: str
    name: str
    unit: str
    category: str
    qty: str
    list_price: str | None = Field(description="the product's list price when ordered (null on older orders)")
    unit_price: str
    discount_amount: str
    tax_rate: str
    subtotal: str
    tax: str
    total: str


class OrderHistoryOut(Output):
    at: str
    by: str
    change: str
    from_: str | None = Field(alias="from")
    to: str | None


class ShippedLineOut(Output):
    line_no: int
    qty: str


class ShipmentEventOut(Output):
    event_id: str
    status: ShipmentStatus
    occurred_at: str
    received_at: str
    by: str
    applied: bool = Field(description="false: kept, but it changed nothing (older than the latest, or not a "
                                      "move the lifecycle allows)")
    expected_delivery_date: str | None


class ShipmentOut(Output):
    id: str
    order_id: str
    order_no: str
    branch_id: str
    carrier: str
    tracking_number: str
    tracking_url: str | None
    lines: list[ShippedLineOut]
    status: ShipmentStatus
    expected_delivery_date: str | None
    created_at: str
    updated_at: str
    created_by: str
    last_event_at: str | None
    version: int
    events: list[ShipmentEventOut]
    order_status: str | None = Field(default=None, description="the order's status after this request")


class OrderOut(Output):
    id: str
    order_no: str
    customer_id: str
    branch_id: str
    channel: Channel
    status: OrderStatus
    payment_status: PaymentStatus
    lines: list[OrderLineOut]
    subtotal: str
    discount_total: str
    tax_total: str
    net_total: str = Field(description="subtotal - discount_total + tax_total: what the customer pays")
    placed_at: str
    updated_at: str
    created_by: str
    notify_customer: bool
    promised_date: str | None
    ref: str | None
    return_reason: ReturnReason | None
    delivered_at: str | None
    returned_at: str | None
    late_since: str | None = Field(description="the local day the late-deliveries job found it late")
    late_complaint_id: str | None = Field(description="the complaint opened then (category shipment)")
    tracking: str | None = Field(description="<carrier>:<tracking number> of its newest shipment")
    contact_phone: str | None = Field(description="E.164 the order was placed with (null after the customer's erasure)")
    placed_with_staff_phone: bool = Field(description="that number is the placing staff member's own (flagged for review)")
    changed_after_delivery_at: str | None = Field(
        description="the first change after delivery that delivery does not explain (flagged for review)")
    version: int
    history: list[OrderHistoryOut]
    shipments: list[ShipmentOut]


class OrderPage(Output):
    items: list[OrderOut]
    next_cursor: str | None


class OrderListQuery(PageQuery):
    branch: BranchId | None = None
    status: OrderStatus | None = None
    placed_from: QueryDate | None = Field(default=None, description="first local day (YYYY-MM-DD)")
    placed_to: QueryDate | None = Field(default=None, description="last local day (YYYY-MM-DD)")


    @model_validator(mode="after")
    def _a_window(self) -> OrderListQuery:
        if self.placed_from and self.placed_to and self.placed_from > self.placed_to:
            raise ValueError("placed_from must not be after placed_to")
        return self


class OrderLookupQuery(QueryInput):
    order_no: AnyOrderNo | None = None
    branch: BranchId | None = Field(default=None, description="with order_no: default the caller's branch")
    phone: Phone | None = None
    lang: Literal["id", "en"] | None = Field(
        default=None, description="default: by phone the customer's language; by number Indonesian")

    @model_validator(mode="after")
    def _exactly_one(self) -> OrderLookupQuery:
        if (self.order_no is None) == (self.phone is None):
            raise ValueError("give exactly one of order_no or phone")
        return self


class OrderLookupItem(Output):
    id: str
    order_no: str
    status: OrderStatus
    status_text: str = Field(description="the status as one sentence to read out, in `lang`")
    expected_date: str | None = Field(description="YYYY-MM-DD: the promised date while it is on its way")
    tracking_url: str | None = Field(description="the carrier's tracking page of its newest shipment, if any")
    net_total: str
    placed_at: str


class OrderLookup(Output):
    customer_id: str
    items: list[OrderLookupItem]


class CustomerOrdersQuery(PageQuery):
    pass
