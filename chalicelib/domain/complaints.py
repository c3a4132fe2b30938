"""Complaints (cases): routing to departments, the status lifecycle and the SLA."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.config import REOPEN_CLOSED_WITHIN_DAYS, SLA_ACK_WITHIN_HOURS, SLA_RESOLVE_WITHIN_HOURS
from chalicelib.domain.clock import iso, parse_iso
from chalicelib.domain.errors import Conflict, FieldError, ValidationFailed
from chalicelib.domain.versions import etag_for


class Category(StrEnum):
    SALES = "sales"
    SERVICE = "service"
    QUALITY_CONTROL = "quality_control"
    SHIPMENT = "shipment"
    BILLING = "billing"
    CUSTOMER_CARE = "customer_care"  # how the customer was treated (a low satisfaction answer opens one)
    OTHER = "other"


class Department(StrEnum):
    SALES = "sales"
    SERVICE = "service"
    QUALITY_CONTROL = "quality_control"
    SHIPMENT = "shipment"
    FINANCE = "finance"
    CUSTOMER_CARE = "customer_care"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


DEPARTMENT_OF: dict[str, str] = {
    Category.SALES.value: Department.SALES.value,
    Category.SERVICE.value: Department.SERVICE.value,
    Category.QUALITY_CONTROL.value: Department.QUALITY_CONTROL.value,
    Category.SHIPMENT.value: Department.SHIPMENT.value,
    Category.BILLING.value: Department.FINANCE.value,
    Category.CUSTOMER_CARE.value: Department.CUSTOMER_CARE.value,
    Category.OTHER.value: Department.CUSTOMER_CARE.value,
}

# from -> the states it may move to (a reopen goes back to in_progress)
NEXT: dict[str, tuple[str, ...]] = {
    Status.OPEN.value: (Status.ACKNOWLEDGED.value,),
    Status.ACKNOWLEDGED.value: (Status.IN_PROGRESS.value,),
    Status.IN_PROGRESS.value: (Status.RESOLVED.value,),
    Status.RESOLVED.value: (Status.CLOSED.value, Status.IN_PROGRESS.value),
    Status.CLOSED.value: (Status.IN_PROGRESS.value,),
}
UNRESOLVED = (Status.OPEN.value, Status.ACKNOWLEDGED.value, Status.IN_PROGRESS.value)


@dataclass(frozen=True)
class NewComplaint:
    """A complaint as staff open it (values checked); routing, deadlines and times are the CRM's."""

    category: str
    severity: str
    subject: str
    description: str
    ref: str | None = None
    qc: QcDetails | None = None  # quality_control complaints only
    work_order_id: str | None = None  # service complaints: the work order it is about


@dataclass(frozen=True)
class QcDetails:
    """What quality control traces a defect by: the vehicle, the part and its batch, the defect's code."""

    vin: str | None = None
    part_no: str | None = None
    batch_no: str | None = None
    defect_code: str | None = None


@dataclass(frozen=True)
class ComplaintChanges:
    """What a PATCH asks for: the fields in `sent` change (a status move, an assignee, a resolution note, QC's
    finding whether the defect came from the factory)."""

    sent: frozenset[str]
    status: str | None = None
    assignee: str | None = None
    resolution_note: str | None = None
    factory_defect: bool | None = None


@dataclass
class HistoryEntry:
    at: str
    by: str
    change: str  # created | status | assignee | resolution_note | factory_defect | escalation (from/to: the levels)
    from_value: str | None = None
    to_value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "by": self.by, "change": self.change, "from": self.from_value, "to": self.to_value}


@dataclass
class Complaint:
    id: str
    customer_id: str
    branch_id: str
    category: str
    department: str
    severity: str
    subject: str
    description: str
    status: str
    created_at: str
    updated_at: str
    created_by: str
    ack_due_at: str
    resolve_due_at: str
    version: int = 1
    ref: str | None = None
    assignee: str | None = None
    resolution_note: str | None = None
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None  # who resolved it (a staff member's sub): staff performance counts them
    resolved_branch: str | None = None  # where it was resolved: their performance stays that branch's
    closed_at: str | None = None
    reopened_at: str | None = None  # the last reopen: the resolve deadline and escalation run from it
    reopens: int = 0
    escalation_level: int = 0
    escalated: bool = False  # set by the escalation workflow
    escalated_at: str | None = None  # when it last raised escalation_level
    vin: str | None = None  # quality_control: the vehicle, the part, its batch, the defect's code
    part_no: str | None = None
    batch_no: str | None = None
    defect_code: str | None = None
    factory_defect: bool | None = None  # QC's finding: from the factory (true), from use (false), not judged yet
    work_order_id: str | None = None  # service: the work order it is about (linked in the work order's partition)
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    def due_at(self) -> str | None:
        """The next deadline: acknowledging while open, resolving until resolved."""
        if self.status == Status.OPEN.value:
            return self.ack_due_at
        if self.status in UNRESOLVED:
            return self.resolve_due_at
        return None

    def breached(self, now: datetime) -> bool:
        """A deadline was (or is being) missed, or the workflow escalated it."""
        stamp = iso(now)
        late_ack = (self.acknowledged_at or stamp) > self.ack_due_at
        late_resolve = (self.resolved_at or stamp) > self.resolve_due_at
        return self.escalated or late_ack or late_resolve

    def to_dict(self, now: datetime) -> dict[str, Any]:
        body = asdict(self)
        body.pop("escalated")
        body["history"] = [h.to_dict() for h in self.history]
        body["due_at"] = self.due_at()
        body["breached"] = self.breached(now)
        return body

    def to_timeline_item(self, now: datetime) -> dict[str, Any]:
        body = self.to_dict(now)
        body.pop("history")
        return {"type": "complaint", **body}


def new_case(new: NewComplaint, *, case_id: str, customer_id: str, branch_id: str, by: str,
             now: datetime) -> Complaint:
    """A new open case, routed to its category's department, with its SLA deadlines; not stored yet."""
    stamp = iso(now)
    ack_due, resolve_due = deadlines(new.severity, now)
    return Complaint(id=case_id, customer_id=customer_id, branch_id=branch_id, category=new.category,
                     department=DEPARTMENT_OF[new.category], severity=new.severity, subject=new.subject,
                     description=new.description, status=Status.OPEN.value, created_at=stamp, updated_at=stamp,
                     created_by=by, ack_due_at=ack_due, resolve_due_at=resolve_due, ref=new.ref,
                     vin=new.qc.vin if new.qc else None, part_no=new.qc.part_no if new.qc else None,
                     batch_no=new.qc.batch_no if new.qc else None, defect_code=new.qc.defect_code if new.qc else None,
                     work_order_id=new.work_order_id,
                     history=[HistoryEntry(at=stamp, by=by, change="created", to_value="open")])


def deadlines(severity: str, created: datetime) -> tuple[str, str]:
    return (
        iso(created + timedelta(hours=SLA_ACK_WITHIN_HOURS[severity])),
        iso(created + timedelta(hours=SLA_RESOLVE_WITHIN_HOURS[severity])),
    )


def transition(c: Complaint, to: str, *, by: str, now: datetime) -> Complaint:
    """Move along the lifecycle or raise Conflict naming the allowed next states."""
    allowed = list(NEXT.get(c.status, ()))
    if c.status == Status.CLOSED.value and c.closed_at is not None:
        closed = parse_iso(c.closed_at)
        if now - closed > timedelta(days=REOPEN_CLOSED_WITHIN_DAYS):
            allowed = []
    if to not in allowed:
        raise Conflict(
            f"A complaint cannot go from {c.status} to {to}.",
            current_status=c.status,
            allowed_next_states=allowed,
        )
    stamp = iso(now)
    changes: dict[str, Any] = {"status": to}
    if to == Status.ACKNOWLEDGED.value:
        changes["acknowledged_at"] = stamp
    elif to == Status.RESOLVED.value:
        if not c.resolution_note:
            raise ValidationFailed([FieldError("resolution_note", "is required to resolve a complaint")])
        changes.update(resolved_at=stamp, resolved_by=by, resolved_branch=c.branch_id)
    elif to == Status.CLOSED.value:
        changes["closed_at"] = stamp
    elif to == Status.IN_PROGRESS.value and c.status in (Status.RESOLVED.value, Status.CLOSED.value):
        # Reopened: a fresh resolve window from now, and escalation starts over (its own execution,
        # workflows/escalation.py); the history keeps the earlier resolution and escalation.
        changes.update(resolved_at=None, resolved_by=None, resolved_branch=None, closed_at=None, reopened_at=stamp,
                       reopens=c.reopens + 1,
                       resolve_due_at=iso(now + timedelta(hours=SLA_RESOLVE_WITHIN_HOURS[c.severity])),
                       escalation_level=0)
    entry = HistoryEntry(at=stamp, by=by, change="status", from_value=c.status, to_value=to)
    return replace(c, **changes, history=[*c.history, entry])


def mark_factory_defect(c: Complaint, value: bool | None, *, by: str, now: datetime) -> Complaint:
    """QC's finding on a quality_control complaint: the defect came from the factory (true) or from use (false);
    null takes the finding back. A complaint of another category has nothing for QC to judge (422)."""
    if c.category != "quality_control":
        raise ValidationFailed([FieldError("factory_defect", "is judged on quality_control complaints only")])
    if c.factory_defect == value:
        return c
    text = {True: "true", False: "false", None: None}
    entry = HistoryEntry(at=iso(now), by=by, change="factory_defect", from_value=text[c.factory_defect],
                         to_value=text[value])
    return replace(c, factory_defect=value, history=[*c.history, entry])


def set_field(c: Complaint, name: str, value: str | None, *, by: str, now: datetime) -> Complaint:
    """Change `assignee` or `resolution_note`, recording who changed it."""
    if getattr(c, name) == value:
        return c
    entry = HistoryEntry(at=iso(now), by=by, change=name, from_value=getattr(c, name), to_value=value)
    changed = replace(c, history=[*c.history, entry])
    setattr(changed, name, value)
    return changed
