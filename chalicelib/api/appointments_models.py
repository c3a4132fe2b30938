"""Request and response models of workshop appointments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from chalicelib.api.analytics_models import QueryDate
from chalicelib.api.models import Output, QueryInput, Strict
from chalicelib.api.vehicles_models import Vin
from chalicelib.domain.appointments import NOTES_MAX_CHARS, NewAppointment, ServiceType
from chalicelib.domain.appointments import Status as AppointmentStatus


def _aware(value: Any) -> Any:
    """An ISO time with its offset (`2026-12-08T09:00:00+07:00` or `...Z`) in the years 2000-2099: a time without
    an offset is ambiguous, and one outside those years is a typo (and would not survive a time zone's shift)."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time with its offset, e.g. 2026-12-08T09:00:00+07:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 time with its offset, e.g. 2026-12-08T09:00:00+07:00") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry its offset (e.g. +07:00 or Z)")
    if not 2000 <= parsed.year <= 2099:
        raise ValueError("must be in the years 2000-2099")
    return parsed


SlotStart = Annotated[datetime, BeforeValidator(_aware),
                      Field(examples=["2026-12-08T09:00:00+07:00"], description="a slot start, with its offset")]
Notes = Annotated[str, StringConstraints(max_length=NOTES_MAX_CHARS)]


class AppointmentCreate(Strict):
    MULTILINE = frozenset({"notes"})

    vin: Vin
    slot_start: SlotStart
    service_type: ServiceType
    notes: Notes | None = None

    def to_domain(self) -> NewAppointment:
        return NewAppointment(vin=self.vin, slot_start=self.slot_start, service_type=self.service_type.value,
                              notes=self.notes or None)


class AppointmentPatch(Strict):
    """A move along booked -> confirmed -> checked_in -> completed, or cancelled / no_show; or new notes (null
    removes them). If-Match required. To move an appointment, cancel it and book another slot."""

    MULTILINE = frozenset({"notes"})

    status: AppointmentStatus = None  # type: ignore[assignment]
    notes: Notes | None = None

    @model_validator(mode="before")
    @classmethod
    def _status_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and "status" in data and data["status"] is None:
            raise ValueError("status cannot be removed")
        return data


class SlotsQuery(QueryInput):
    date: QueryDate
    service_type: ServiceType = ServiceType.PERIODIC


class SlotOut(Output):
    slot_start: str
    slot_end: str
    capacity: int
    free: int


class SlotList(Output):
    items: list[SlotOut]


class AppointmentHistoryOut(Output):
    at: str
    by: str
    change: str = Field(description="created, status, notes (that they changed, not what)")
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class AppointmentOut(Output):
    id: str
    customer_id: str
    branch_id: str
    vin: str
    service_type: ServiceType
    slot_start: str = Field(description="local time with its offset")
    slot_end: str
    status: AppointmentStatus
    notes: str | None
    created_at: str
    updated_at: str
    version: int
    history: list[AppointmentHistoryOut]


class AppointmentSummaryOut(Output):
    id: str
    vin: str
    service_type: ServiceType
    status: AppointmentStatus
    slot_start: str


class AppointmentList(Output):
    items: list[AppointmentSummaryOut]
