"""Orders: what a customer bought, the money behind it, and its lifecycle with history.

Totals are the server's, exact (Decimal, IDR with 2 decimals): per line `subtotal = qty x unit_price` (to the
cent, half up), `net = subtotal - discount_amount`, `tax = net x tax_rate` (to the cent, half up), `total = net +
tax`; the order's `subtotal`, `discount_total` and `tax_total` are the lines' sums and `net_total` (what the
customer pays) is `subtotal - discount_total + tax_total`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from chalicelib.domain.clock import iso
from chalicelib.domain.errors import Conflict, FieldError, Unprocessable
from chalicelib.domain.money import money_text, round_money
from chalicelib.domain.versions import etag_for

if TYPE_CHECKING:
    from chalicelib.domain.complaints import Complaint
    from chalicelib.domain.shipments import Shipment

LINES_MAX = 100


class Channel(StrEnum):
    SHOWROOM = "showroom"
    PHONE = "phone"
    ONLINE = "online"
    DEALER = "dealer"


class Status(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIAL = "partial"
    PAID = "paid"
    REFUNDED = "refunded"


class ReturnReason(StrEnum):
    """Why a delivered order came back: a choice, never free text (an order outlives its customer's erasure)."""

    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    CHANGED_MIND = "changed_mind"
    LATE = "late"
    OTHER = "other"


S = Status
NEXT: dict[str, tuple[str, ...]] = {
    S.DRAFT: (S.CONFIRMED, S.CANCELLED),
    S.CONFIRMED: (S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED),
    S.PARTIALLY_SHIPPED: (S.SHIPPED,),
    S.SHIPPED: (S.DELIVERED,),
    S.DELIVERED: (S.CLOSED, S.RETURNED),
    S.CLOSED: (),
    S.CANCELLED: (),
    S.RETURNED: (),
}
# Payment moves on its own; a refund follows a payment.
PAYMENT_NEXT: dict[str, tuple[str, ...]] = {
    PaymentStatus.UNPAID: (PaymentStatus.PARTIAL, PaymentStatus.PAID),
    PaymentStatus.PARTIAL: (PaymentStatus.PAID, PaymentStatus.REFUNDED, PaymentStatus.UNPAID),
    PaymentStatus.PAID: (PaymentStatus.REFUNDED, PaymentStatus.PARTIAL),
    PaymentStatus.REFUNDED: (),
}


@dataclass(frozen=True)
class NewLine:
    sku: str
    qty: Decimal
    unit_price: Decimal | None = None  # None: the product's list price
    discount_amount: Decimal = Decimal("0.00")
    tax_rate: Decimal = Decimal("0")


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    net_total: Decimal


@dataclass(frozen=True)
class NewOrder:
    channel: str
    lines: tuple[NewLine, ...]
    promised_date: str | None = None
    order_no: str | None = None
    notify_customer: bool = True
    ref: str | None = None
    totals: dict[str, Decimal] = field(default_factory=dict)  # what the client computed, checked against ours
    contact_phone: str | None = None  # E.164: the number the order was placed with, when not the customer's own


@dataclass(frozen=True)
class OrderChanges:
    sent: frozenset[str]
    status: str | None = None
    payment_status: str | None = None
    return_reason: str | None = None
    promised_date: str | None = None


@dataclass(frozen=True)
class Line:
    line_no: int
    sku: str
    name: str  # the product's name when ordered
    unit: str
    qty: Decimal
    unit_price: Decimal
    discount_amount: Decimal
    tax_rate: Decimal
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    category: str = "other"  # the product's category when ordered (revenue by category)
    list_price: Decimal | None = None  # the product's list price when ordered (older orders: unknown)
    cost_price: Decimal | None = None  # ... and its cost price (admins' data: stored, never in the order's body)

    def to_dict(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "sku": self.sku, "name": self.name, "unit": self.unit,
                "category": self.category, "qty": f"{self.qty:f}", "list_price": money_text(self.list_price),
                "unit_price": money_text(self.unit_price), "discount_amount": money_text(self.discount_amount),
                "tax_rate": f"{self.tax_rate:f}", "subtotal": money_text(self.subtotal), "tax": money_text(self.tax),
                "total": money_text(self.total)}


@dataclass(frozen=True)
class HistoryEntry:
    at: str
    by: str
    change: str  # created | status | payment_status | promised_date
    from_value: str | None = None
    to_value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "change": self.change, "from": self.from_value, "to": self.to_value}


@dataclass
class Order:
    id: str
    order_no: str
    customer_id: str
    branch_id: str
    channel: str
    status: str
    payment_status: str
    lines: list[Line]
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    net_total: Decimal
    placed_at: str
    updated_at: str
    created_by: str
    notify_customer: bool = True
    promised_date: str | None = None
    ref: str | None = None
    return_reason: str | None = None
    delivered_at: str | None = None  # when it became delivered (revenue counters: orders delivered per day)
    returned_at: str | None = None  # when it came back
    late_since: str | None = None  # the local day the late-deliveries job found it late
    late_complaint_id: str | None = None  # the complaint it opened then
    tracking: str | None = None  # "<carrier>:<tracking number>" of its latest shipment (the lookup's link)
    contact_phone: str | None = None  # E.164 the order was placed with (the customer's own unless staff gave one)
    placed_with_staff_phone: bool = False  # that number is the placing staff member's own (a transaction flag)
    changed_after_delivery_at: str | None = None  # the first change after delivery that delivery does not explain
    version: int = 1
    history: list[HistoryEntry] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    @property
    def awaits_delivery(self) -> bool:
        """On its way with a promised date and not found late yet: what the late-deliveries job looks at."""
        return self.status in ON_ITS_WAY and self.promised_date is not None and self.late_since is None

    def to_timeline_item(self) -> dict[str, Any]:
        """What the customer's timeline shows of the order: no lines, no history."""
        return {"type": "order", "id": self.id, "order_no": self.order_no, "branch_id": self.branch_id,
                "status": self.status, "payment_status": self.payment_status, "net_total": money_text(self.net_total),
                "placed_at": self.placed_at, "promised_date": self.promised_date}

    def to_dict(self) -> dict[str, Any]:
        body = asdict(replace(self, shipments=[]))
        body["shipments"] = [s.to_dict() for s in self.shipments]
        body["lines"] = [line.to_dict() for line in self.lines]
        body["history"] = [h.to_dict() for h in self.history]
        for name in ("subtotal", "discount_total", "tax_total", "net_total"):
            body[name] = money_text(getattr(self, name))
        return body


def line_of(line_no: int, new: NewLine, *, name: str, unit: str, list_price: Decimal, category: str = "other",
            cost_price: Decimal | None = None) -> Line:
    """A priced line (keeping the product's list and cost price of the moment: profitability and the transaction
    flags read them); ValidationFailed naming the line when its discount is more than its subtotal."""
    unit_price = new.unit_price if new.unit_price is not None else list_price
    subtotal = round_money(new.qty * unit_price)
    if new.discount_amount > subtotal:
        raise Unprocessable([FieldError(f"lines.{line_no - 1}.discount_amount",
                                           "is more than the line's subtotal (qty x unit_price)")])
    net = subtotal - new.discount_amount
    tax = round_money(net * new.tax_rate)
    return Line(line_no=line_no, sku=new.sku, name=name, unit=unit, qty=new.qty, unit_price=unit_price,
                discount_amount=new.discount_amount, tax_rate=new.tax_rate, subtotal=subtotal, tax=tax, total=net + tax,
                category=category, list_price=list_price, cost_price=cost_price)


def totals_of(lines: list[Line]) -> Totals:
    subtotal = sum((line.subtotal for line in lines), Decimal("0.00"))
    discount = sum((line.discount_amount for line in lines), Decimal("0.00"))
    tax = sum((line.tax for line in lines), Decimal("0.00"))
    return Totals(subtotal=subtotal, discount_total=discount, tax_total=tax, net_total=subtotal - discount + tax)


def check_client_totals(sent: dict[str, Decimal], totals: Totals) -> None:
    """A client that sent totals gets 422 naming each that disagrees with the server's."""
    wrong = [FieldError(name, f"is {money_text(value)}; the lines make {money_text(getattr(totals, name))}")
             for name, value in sent.items() if value != getattr(totals, name)]
    if wrong:
        raise Unprocessable(wrong, "The totals disagree with the lines.")


def stamps_of(status: str, now: datetime) -> dict[str, str]:
    """The time fields a move to `status` sets."""
    if status == Status.DELIVERED:
        return {"delivered_at": iso(now)}
    if status == Status.RETURNED:
        return {"returned_at": iso(now)}
    return {}


def transition(o: Order, to: str, *, by: str, now: datetime, return_reason: str | None = None) -> Order:
    """Move along the lifecycle or raise Conflict naming the allowed next states."""
    allowed = list(NEXT.get(o.status, ()))
    if to not in allowed:
        raise Conflict(f"An order cannot go from {o.status} to {to}.", current_status=o.status,
                       allowed_next_states=allowed)
    changes: dict[str, Any] = {"status": to, **stamps_of(to, now)}
    if to == Status.RETURNED:
        if return_reason is None:
            raise Unprocessable([FieldError("return_reason", "is required to return an order")])
        changes["return_reason"] = return_reason
    entry = HistoryEntry(at=iso(now), by=by, change="status", from_value=o.status, to_value=to)
    return _after_delivery(replace(o, **changes, history=[*o.history, entry]), entry)


def pay(o: Order, to: str, *, by: str, now: datetime) -> Order:
    allowed = list(PAYMENT_NEXT.get(o.payment_status, ()))
    if to not in allowed:
        raise Conflict(f"A payment cannot go from {o.payment_status} to {to}.", current_payment_status=o.payment_status,
                       allowed_next_payment_states=allowed)
    entry = HistoryEntry(at=iso(now), by=by, change="payment_status", from_value=o.payment_status, to_value=to)
    return _after_delivery(replace(o, payment_status=to, history=[*o.history, entry]), entry)


def promise(o: Order, day: str | None, *, by: str, now: datetime) -> Order:
    if day == o.promised_date:
        return o
    entry = HistoryEntry(at=iso(now), by=by, change="promised_date", from_value=o.promised_date, to_value=day)
    return _after_delivery(replace(o, promised_date=day, history=[*o.history, entry]), entry)


def _after_delivery(o: Order, entry: HistoryEntry) -> Order:
    """Mark the first change after delivery that delivery does not explain (a transaction flag): closing or returning
    it, being paid (in full, or a first instalment), and refunding a returned order are what follows a delivery;
    anything else (a refund without a return, a payment taken back, a new promised date) is looked at."""
    if o.delivered_at is None or o.changed_after_delivery_at is not None or entry.at <= o.delivered_at:
        return o
    paid = entry.to_value == PaymentStatus.PAID or (entry.from_value, entry.to_value) == (PaymentStatus.UNPAID,
                                                                                          PaymentStatus.PARTIAL)
    expected = entry.change == "status" or (entry.change == "payment_status" and (
        paid or (entry.to_value == PaymentStatus.REFUNDED and o.status == Status.RETURNED)))
    return o if expected else replace(o, changed_after_delivery_at=entry.at)


LATE_BY = "system:late-deliveries"  # who opens a late order's complaint


def late_complaint_id(order: Order) -> str:
    """The complaint a late order opens has an id of its own made from the order's, so a second run of the job
    (or a twin of it) finds it rather than opening another: the order's time, and 80 bits of a hash of its id."""
    import hashlib

    from ulid import ULID

    order_ulid = ULID.from_str(order.id)
    tail = hashlib.sha256(f"late#{order.id}".encode()).digest()[:10]
    return str(ULID.from_bytes(order_ulid.bytes[:6] + tail))


def late_complaint(order: Order, branch_id: str | None, *, today: str, now: datetime) -> Complaint:
    """The complaint a late order opens (category shipment, severity high, `ref` the order's id), in the
    customer's branch. No personal data: the order's number and dates."""
    from chalicelib.domain.complaints import NewComplaint, new_case

    new = NewComplaint(category="shipment", severity="high", ref=order.id,
                       subject=f"Order {order.order_no} not delivered as promised",
                       description=f"Order {order.order_no} was promised for {order.promised_date} and is still "
                                   f"{order.status} on {today} (found by the late-deliveries job).")
    return new_case(new, case_id=late_complaint_id(order), customer_id=order.customer_id,
                    branch_id=branch_id or order.branch_id, by=LATE_BY, now=now)


def mark_late(o: Order, *, today: str, complaint_id: str | None, now: datetime) -> Order:
    entry = HistoryEntry(at=iso(now), by=LATE_BY, change="late", from_value=o.promised_date, to_value=complaint_id)
    return replace(o, late_since=today, late_complaint_id=complaint_id, updated_at=iso(now), version=o.version + 1,
                   history=[*o.history, entry])


# What the call centre reads out: the order's status as one sentence, in the customer's language.
STATUS_TEXT: dict[str, dict[str, str]] = {
    "id": {
        Status.DRAFT: "Pesanan {no} sedang kami siapkan.",
        Status.CONFIRMED: "Pesanan {no} sudah dikonfirmasi{expected}.",
        Status.PARTIALLY_SHIPPED: "Sebagian pesanan {no} sudah dikirim{expected}.",
        Status.SHIPPED: "Pesanan {no} sudah dikirim{expected}.",
        Status.DELIVERED: "Pesanan {no} sudah diterima.",
        Status.CLOSED: "Pesanan {no} sudah selesai.",
        Status.CANCELLED: "Pesanan {no} dibatalkan.",
        Status.RETURNED: "Pesanan {no} sudah dikembalikan.",
    },
    "en": {
        Status.DRAFT: "Order {no} is being prepared.",
        Status.CONFIRMED: "Order {no} is confirmed{expected}.",
        Status.PARTIALLY_SHIPPED: "Part of order {no} has been shipped{expected}.",
        Status.SHIPPED: "Order {no} has been shipped{expected}.",
        Status.DELIVERED: "Order {no} has been delivered.",
        Status.CLOSED: "Order {no} is complete.",
        Status.CANCELLED: "Order {no} was cancelled.",
        Status.RETURNED: "Order {no} was returned.",
    },
}
EXPECTED_TEXT = {"id": "; perkiraan tiba {date}", "en": "; expected on {date}"}
MONTHS = {"id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
                 "November", "Desember"),
          "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December")}


ON_ITS_WAY = (Status.CONFIRMED, Status.PARTIALLY_SHIPPED, Status.SHIPPED)
# An order is revenue from its confirmation on, until it is cancelled or comes back.
REVENUE_STATUSES = (*ON_ITS_WAY, Status.DELIVERED, Status.CLOSED)


def expected_phrase(o: Order, language: str, *, short_month: bool = False) -> str:
    """`; perkiraan tiba 20 Desember 2026` while the order is on its way with a promised date, else ''."""
    lang = language if language in EXPECTED_TEXT else "id"
    if not o.promised_date or o.status not in ON_ITS_WAY:
        return ""
    year, month, day = (int(part) for part in o.promised_date.split("-"))
    name = MONTHS[lang][month - 1]
    return EXPECTED_TEXT[lang].format(date=f"{day} {name[:3] if short_month else name} {year}")


def status_text(o: Order, language: str) -> str:
    """`Pesanan JAK-2026-000123 sudah dikirim; perkiraan tiba 20 Desember 2026.`"""
    lang = language if language in STATUS_TEXT else "id"
    return STATUS_TEXT[lang][o.status].format(no=o.order_no, expected=expected_phrase(o, lang))
