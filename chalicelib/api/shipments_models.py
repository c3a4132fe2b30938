"""Request and response models of shipments and their events (staff and carriers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from chalicelib.api.models import Output, Strict, in_years_2000_to_2099
from chalicelib.api.orders_models import Qty
from chalicelib.domain.clock import iso
from chalicelib.domain.orders import LINES_MAX
from chalicelib.domain.shipments import CARRIERS, NewEvent, NewShipment, ShipmentStatus, ShippedLine

CarrierId = StrEnum("CarrierId", {c: c for c in CARRIERS})  # type: ignore[misc]
TrackingNumber = Annotated[str, StringConstraints(min_length=4, max_length=30, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
DeliveryDate = Annotated[date, AfterValidator(in_years_2000_to_2099)]
CLOCK_SKEW = timedelta(minutes=5)


def _happened(value: datetime) -> datetime:
    """With an offset, from 2000 up to now (a carrier's clock may run up to 5 minutes ahead)."""
    if value.tzinfo is None:
        raise ValueError("must include a time zone offset, e.g. Z or +07:00")
    if not 2000 <= value.year <= datetime.now(UTC).year + 1 or value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must be between 2000 and now")
    return value


Happened = Annotated[datetime, AfterValidator(_happened)]


class ShippedLineIn(Strict):
    line_no: Annotated[int, Field(ge=1, le=LINES_MAX)]
    qty: Qty


class ShipmentCreate(Strict):
    """Which lines of the order (and how much of each) leave with which carrier."""

    carrier: CarrierId  # type: ignore[valid-type]
    tracking_number: TrackingNumber
    lines: Annotated[list[ShippedLineIn], Field(min_length=1, max_length=LINES_MAX)]
    expected_delivery_date: DeliveryDate | None = None

    def to_domain(self) -> NewShipment:
        return NewShipment(carrier=self.carrier.value, tracking_number=self.tracking_number.upper(),
                           lines=tuple(ShippedLine(x.line_no, Decimal(x.qty)) for x in self.lines),
                           expected_delivery_date=self.expected_delivery_date.isoformat()
                           if self.expected_delivery_date else None)


class ShipmentEventCreate(Strict):
    """A step of the shipment's journey, as staff record it (`delayed` needs the new expected date)."""

    status: ShipmentStatus
    occurred_at: Happened | None = Field(default=None, description="default: now")
    expected_delivery_date: DeliveryDate | None = None

    def to_domain(self) -> NewEvent:
        return NewEvent(status=self.status.value, occurred_at=iso(self.occurred_at or datetime.now(UTC)),
                        expected_delivery_date=self.expected_delivery_date.isoformat()
                        if self.expected_delivery_date else None)


class CarrierEvent(Strict):
    """What a carrier posts to /carrier-events/{carrier}, signed (X-Relasi-Timestamp, X-Relasi-Signature)."""

    event_id: EventId = Field(description="the carrier's id of the event: the same id again changes nothing")
    tracking_number: TrackingNumber
    status: ShipmentStatus
    occurred_at: Happened
    expected_delivery_date: DeliveryDate | None = None

    def to_domain(self) -> NewEvent:
        return NewEvent(status=self.status.value, occurred_at=iso(self.occurred_at), event_id=self.event_id,
                        expected_delivery_date=self.expected_delivery_date.isoformat()
                        if self.expected_delivery_date else None)


class CarrierEventResult(Output):
    recorded: bool = Field(description="false: this event id was recorded before (nothing changed)")
    applied: bool
    shipment_status: ShipmentStatus
