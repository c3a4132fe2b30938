"""Request and response models of vehicles."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from chalicelib.api.models import Day, Output, QueryInput, Strict
from chalicelib.domain.vehicles import (
    ODOMETER_MAX_KM,
    NewVehicle,
    Plate,
    VehicleChanges,
    normalize_plate,
    normalize_vin,
)

Vin = Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(normalize_vin),
                Field(examples=["MHFXW42G8K1234567"], description="17 characters (ISO 3779): A-Z and 0-9, no I, O, Q")]
PlateText = Annotated[str, StringConstraints(min_length=2, max_length=16), AfterValidator(normalize_plate),
                      Field(examples=["B 1234 XYZ"],
                            description="an Indonesian plate; spacing, dashes and case do not matter")]
Word = Annotated[str, StringConstraints(min_length=1, max_length=60)]
EngineNo = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Year = Annotated[int, Field(ge=1950, le=2100)]
Odometer = Annotated[int, Field(ge=0, le=ODOMETER_MAX_KM)]


def _text(d: date | None) -> str | None:
    return d.isoformat() if d else None


class VehicleCreate(Strict):
    vin: Vin
    plate_no: PlateText
    make: Word
    model: Word
    year: Year
    color: Word
    engine_no: EngineNo | None = None
    purchase_date: Day | None = None
    warranty_end: Day | None = None
    last_service_date: Day | None = None
    last_odometer_km: Odometer | None = None

    def to_domain(self) -> NewVehicle:
        plate: Any = self.plate_no
        return NewVehicle(vin=self.vin, plate=plate, make=self.make, model=self.model, year=self.year,
                          color=self.color, engine_no=self.engine_no, purchase_date=_text(self.purchase_date),
                          warranty_end=_text(self.warranty_end), last_service_date=_text(self.last_service_date),
                          last_odometer_km=self.last_odometer_km)


class VehiclePatch(Strict):
    """JSON merge patch; If-Match required. `owner_id` gives the vehicle to another customer (it moves to their
    branch; its history stays with it). The optional dates and numbers are removed with null."""

    plate_no: PlateText = None  # type: ignore[assignment]
    make: Word = None  # type: ignore[assignment]
    model: Word = None  # type: ignore[assignment]
    year: Year = None  # type: ignore[assignment]
    color: Word = None  # type: ignore[assignment]
    owner_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] = None  # type: ignore[assignment]
    engine_no: EngineNo | None = None
    purchase_date: Day | None = None
    warranty_end: Day | None = None
    last_service_date: Day | None = None
    last_odometer_km: Odometer | None = None

    @model_validator(mode="before")
    @classmethod
    def _required_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("plate_no", "make", "model", "year", "color", "owner_id"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be removed")
        return data

    def to_domain(self) -> VehicleChanges:
        sent = {"plate" if n == "plate_no" else n for n in self.model_fields_set}
        plate: Any = self.plate_no
        return VehicleChanges(
            sent=frozenset(sent), plate=plate if isinstance(plate, Plate) else None, make=self.make,
            model=self.model, year=self.year, color=self.color, engine_no=self.engine_no,
            purchase_date=_text(self.purchase_date), warranty_end=_text(self.warranty_end),
            last_service_date=_text(self.last_service_date), last_odometer_km=self.last_odometer_km,
            owner_id=self.owner_id)


class PlateQuery(QueryInput):
    plate: PlateText


class VehicleHistoryOut(Output):
    at: str
    by: str
    change: str = Field(description="created, plate, owner, owner_erased, last_service_date, last_odometer_km")
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class VehicleOut(Output):
    vin: str
    plate_no: str = Field(description="the display form, e.g. B 1234 XYZ")
    make: str
    model: str
    year: int
    color: str
    engine_no: str | None
    purchase_date: str | None
    warranty_end: str | None
    under_warranty: bool
    last_service_date: str | None
    last_odometer_km: int | None
    owner_id: str | None = Field(description="none once the owner was erased (the vehicle and its history stay)")
    branch_id: str
    created_at: str
    updated_at: str
    version: int
    history: list[VehicleHistoryOut] = Field(description="the last 20 changes, oldest first")


class VehicleSummaryOut(Output):
    vin: str
    plate_no: str
    make: str
    model: str
    year: int
    color: str


class VehicleList(Output):
    items: list[VehicleSummaryOut]


class OwnerOut(Output):
    """The owner's copy the vehicle keeps (refreshed from the stream seconds after the profile changes)."""

    id: str
    name: str
    phone: str
    language: str


class NextAppointmentOut(Output):
    id: str
    service_type: str
    status: str
    slot_start: str = Field(description="local time with its offset")


class OpenWorkOrderOut(Output):
    id: str
    status: str
    stage: str | None
    eta: str = Field(description="local time with its offset")


class VehicleLookupOut(Output):
    vehicle: VehicleOut
    owner: OwnerOut | None = Field(description="none once the owner was erased")
    next_appointment: NextAppointmentOut | None = Field(description="the soonest booked or confirmed one to come")
    open_work_orders: list[OpenWorkOrderOut] = Field(description="not closed or cancelled, soonest ETA first")
