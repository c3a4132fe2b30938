"""Request and response models of work orders. Money is a JSON string of digits with at most 2 decimals."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from chalicelib.api.appointments_models import SlotStart
from chalicelib.api.models import BranchId, Output, QueryInput, Strict
from chalicelib.api.orders_models import OrderOut
from chalicelib.api.products_models import MoneyText
from chalicelib.domain.money import parse_money
from chalicelib.domain.work_orders import (
    DESCRIPTION_MAX_CHARS,
    JOBS_MAX,
    Job,
    NewWorkOrder,
    Stage,
    WorkOrderChanges,
)
from chalicelib.domain.work_orders import Status as WorkOrderStatus


class JobIn(Strict):
    description: Annotated[str, StringConstraints(min_length=1, max_length=DESCRIPTION_MAX_CHARS)]
    estimate_amount: MoneyText

    def to_domain(self) -> Job:
        return Job(self.description, parse_money(self.estimate_amount))


class WorkOrderCreate(Strict):
    jobs: Annotated[list[JobIn], Field(min_length=1, max_length=JOBS_MAX)]
    eta: SlotStart
    appointment_id: Annotated[str, StringConstraints(min_length=26, max_length=26)] | None = None

    def to_domain(self) -> NewWorkOrder:
        return NewWorkOrder(jobs=[j.to_domain() for j in self.jobs], eta=self.eta, appointment_id=self.appointment_id)


class WorkOrderPatch(Strict):
    """A move along the lifecycle, a stage while in progress, a new ETA, new jobs (a new estimate, to approve
    again), or `approved: true` (the customer approved the estimate, e.g. on a call). If-Match required."""

    status: WorkOrderStatus = None  # type: ignore[assignment]
    stage: Stage = None  # type: ignore[assignment]
    eta: SlotStart = None  # type: ignore[assignment]
    jobs: Annotated[list[JobIn], Field(min_length=1, max_length=JOBS_MAX)] = None  # type: ignore[assignment]
    approved: Literal[True] = None  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("status", "stage", "eta", "jobs", "approved"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name} cannot be removed")
        return data

    def to_domain(self) -> WorkOrderChanges:
        return WorkOrderChanges(sent=frozenset(self.model_fields_set),
                                status=self.status.value if self.status else None,
                                stage=self.stage.value if self.stage else None, eta=self.eta,
                                jobs=[j.to_domain() for j in self.jobs] if self.jobs is not None else None,
                                approved=self.approved)


class WorkOrderQuery(QueryInput):
    lang: Literal["id", "en"] | None = None


class BoardQuery(QueryInput):
    branch: BranchId | None = None
    status: WorkOrderStatus | None = None


class JobOut(Output):
    description: str
    estimate_amount: str


class WorkOrderHistoryOut(Output):
    at: str
    by: str
    change: str = Field(description="created, status, stage, eta, estimate, approved")
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class WorkOrderOut(Output):
    id: str
    vin: str
    customer_id: str
    branch_id: str
    jobs: list[JobOut]
    estimate_total: str
    eta: str = Field(description="local time with its offset")
    status: WorkOrderStatus
    stage: Stage | None
    status_text: str = Field(description="the state as one sentence to read out, in `language`")
    language: str
    appointment_id: str | None
    approved_at: str | None
    late_complaint_id: str | None = None
    invoice_order_id: str | None = None
    complaint_ids: list[str] = Field(default_factory=list, description="complaints about this work order")
    created_at: str
    updated_at: str
    version: int
    history: list[WorkOrderHistoryOut] = Field(description="the last five changes")


class Invoice(Output):
    work_order_id: str
    order: OrderOut = Field(description="the order the jobs were invoiced as (201: made now; 200: made before)")


class BoardEntryOut(Output):
    id: str
    vin: str
    status: WorkOrderStatus
    stage: Stage | None
    eta: str


class Board(Output):
    items: list[BoardEntryOut]
