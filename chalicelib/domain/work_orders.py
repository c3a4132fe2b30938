"""Work orders: what the workshop does to a vehicle, its estimate, its ETA and its lifecycle with history, and the
status a caller hears ("how is my car?") without anyone looking it up.

Lifecycle: new -> in_progress -> completed (ready for pick-up) -> closed, with on_hold, cannot_complete and
cancelled; while in progress, a stage the customer understands: inspecting, waiting_approval (the estimate was
sent), waiting_parts, repairing, quality_check. Money is exact (Decimal IDR, chalicelib/domain/money.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.clock import iso
from chalicelib.domain.errors import Conflict, FieldError, ValidationFailed
from chalicelib.domain.history import HistoryEntry
from chalicelib.domain.money import money_text, rupiah
from chalicelib.domain.orders import MONTHS
from chalicelib.domain.versions import etag_for

JOBS_MAX = 30
DESCRIPTION_MAX_CHARS = 200
DELAY_TOLD_AFTER = timedelta(hours=2)  # an ETA moved later by more than this is a delay the customer hears of
HISTORY_SHOWN = 5


class Status(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CLOSED = "closed"
    CANNOT_COMPLETE = "cannot_complete"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    INSPECTING = "inspecting"
    WAITING_APPROVAL = "waiting_approval"
    WAITING_PARTS = "waiting_parts"
    REPAIRING = "repairing"
    QUALITY_CHECK = "quality_check"


S = Status
NEXT: dict[str, tuple[str, ...]] = {
    S.NEW: (S.IN_PROGRESS, S.ON_HOLD, S.CANCELLED),
    S.IN_PROGRESS: (S.ON_HOLD, S.COMPLETED, S.CANNOT_COMPLETE, S.CANCELLED),
    S.ON_HOLD: (S.IN_PROGRESS, S.CANNOT_COMPLETE, S.CANCELLED),
    S.COMPLETED: (S.CLOSED,),
    S.CANNOT_COMPLETE: (S.CLOSED,),
    S.CLOSED: (),
    S.CANCELLED: (),
}
# on the board and the vehicle's lookup: all but closed and cancelled (cannot_complete waits for someone to close it)
OPEN = frozenset({S.NEW, S.IN_PROGRESS, S.ON_HOLD, S.COMPLETED, S.CANNOT_COMPLETE})
# still to be finished: the estimate may change; past the ETA, they are late
LATE_STATUSES = (S.NEW, S.IN_PROGRESS, S.ON_HOLD)


@dataclass(frozen=True)
class Job:
    description: str
    estimate_amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"description": self.description, "estimate_amount": money_text(self.estimate_amount)}


@dataclass(frozen=True)
class BoardEntry:
    """A work order on its branch's board."""

    id: str
    vin: str
    status: str
    stage: str | None
    eta: str  # ISO UTC

    def to_dict(self, zone: ZoneInfo) -> dict[str, Any]:
        return {"id": self.id, "vin": self.vin, "status": self.status, "stage": self.stage,
                "eta": _local(self.eta, zone)}


@dataclass(frozen=True)
class NewWorkOrder:
    jobs: list[Job]
    eta: datetime  # aware
    appointment_id: str | None = None


@dataclass(frozen=True)
class WorkOrderChanges:
    """What a PATCH asks for: the fields in `sent` change; `approved` records the customer's approval of the
    estimate (given to staff on a call)."""

    sent: frozenset[str]
    status: str | None = None
    stage: str | None = None
    eta: datetime | None = None
    jobs: list[Job] | None = None
    approved: bool | None = None


@dataclass
class WorkOrder:
    id: str
    vin: str
    customer_id: str
    branch_id: str
    jobs: list[Job]
    eta: str  # ISO UTC
    status: str
    created_at: str
    updated_at: str
    created_by: str
    language: str = "id"  # the customer's when it was opened: how the status is read out to them
    stage: str | None = None
    appointment_id: str | None = None
    approved_at: str | None = None
    approved_by: str | None = None
    late_complaint_id: str | None = None  # the complaint the late-deliveries job opened for it
    invoice_order_id: str | None = None  # the order its jobs were invoiced as (service revenue)
    eta_told: str | None = None  # the ETA the customer was last told (at check-in, or by a delay notice)
    complaint_ids: list[str] = field(default_factory=list)  # complaints about it (read with it, not stored on it)
    version: int = 1
    history: list[HistoryEntry] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    @property
    def estimate_total(self) -> Decimal:
        return sum((j.estimate_amount for j in self.jobs), Decimal("0.00"))

    def to_dict(self, zone: ZoneInfo, language: str | None = None) -> dict[str, Any]:
        lang = language or self.language
        return {
            "id": self.id, "vin": self.vin, "customer_id": self.customer_id, "branch_id": self.branch_id,
            "jobs": [j.to_dict() for j in self.jobs], "estimate_total": money_text(self.estimate_total),
            "eta": _local(self.eta, zone), "status": self.status, "stage": self.stage,
            "status_text": status_text(self, lang, zone), "language": lang,
            "appointment_id": self.appointment_id, "approved_at": self.approved_at,
            "late_complaint_id": self.late_complaint_id, "invoice_order_id": self.invoice_order_id,
            "complaint_ids": self.complaint_ids,
            "created_at": self.created_at, "updated_at": self.updated_at, "version": self.version,
            "history": [h.to_dict() for h in self.history[-HISTORY_SHOWN:]],
        }


def _local(stamp: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(stamp).astimezone(zone).isoformat()


def when(stamp: str, language: str, zone: ZoneInfo) -> str:
    """`8 Des 14.00` / `8 Dec 14:00`, local."""
    moment = datetime.fromisoformat(stamp).astimezone(zone)
    sep = "." if language == "id" else ":"
    return f"{moment.day} {MONTHS[language][moment.month - 1][:3]} {moment.hour:02d}{sep}{moment.minute:02d}"


SENTENCES: dict[str, dict[str, str]] = {
    "id": {"new": "Kendaraan Anda sudah kami terima dan menunggu dikerjakan.",
           "inspecting": "Kendaraan Anda sedang diperiksa.",
           "waiting_approval": "Estimasi biaya {amount} menunggu persetujuan Anda.",
           "waiting_parts": "Kendaraan Anda menunggu suku cadang.",
           "repairing": "Kendaraan Anda sedang diperbaiki.",
           "quality_check": "Kendaraan Anda sedang dalam pemeriksaan akhir mutu.",
           "in_progress": "Kendaraan Anda sedang dikerjakan.",
           "on_hold": "Pengerjaan kendaraan Anda sedang ditunda; kami akan menghubungi Anda.",
           "completed": "Kendaraan Anda sudah selesai dan siap diambil.",
           "closed": "Kendaraan Anda sudah diambil. Terima kasih.",
           "cannot_complete": "Pengerjaan kendaraan Anda tidak dapat diselesaikan; kami akan menghubungi Anda.",
           "cancelled": "Perintah kerja ini dibatalkan.",
           "eta": " Perkiraan selesai {eta}."},
    "en": {"new": "We have received your vehicle and it is waiting to be worked on.",
           "inspecting": "Your vehicle is being inspected.",
           "waiting_approval": "An estimate of {amount} is waiting for your approval.",
           "waiting_parts": "Your vehicle is waiting for parts.",
           "repairing": "Your vehicle is being repaired.",
           "quality_check": "Your vehicle is in its final quality check.",
           "in_progress": "Your vehicle is being worked on.",
           "on_hold": "Work on your vehicle is on hold; we will call you.",
           "completed": "Your vehicle is ready for pick-up.",
           "closed": "Your vehicle has been picked up. Thank you.",
           "cannot_complete": "The work on your vehicle cannot be completed; we will call you.",
           "cancelled": "This work order was cancelled.",
           "eta": " Expected ready {eta}."},
}


def status_text(wo: WorkOrder, language: str, zone: ZoneInfo) -> str:
    """The work order's state as one sentence to read out, with the ETA while it is still to come."""
    words = SENTENCES[language if language in SENTENCES else "id"]
    key = wo.stage if wo.status == S.IN_PROGRESS and wo.stage else wo.status
    text = words[key].format(amount=rupiah(wo.estimate_total))
    if wo.status in (S.NEW, S.IN_PROGRESS, S.ON_HOLD):
        text += words["eta"].format(eta=when(wo.eta, language if language in SENTENCES else "id", zone))
    return text


def check_jobs(jobs: list[Job]) -> list[FieldError]:
    if not 1 <= len(jobs) <= JOBS_MAX:
        return [FieldError("jobs", f"must hold 1 to {JOBS_MAX} jobs")]
    return [FieldError(f"jobs.{n}.estimate_amount", "must not be negative")
            for n, j in enumerate(jobs) if j.estimate_amount < 0]


def create(work_order_id: str, *, vin: str, customer_id: str, branch_id: str, language: str, new: NewWorkOrder,
           by: str, now: datetime) -> WorkOrder:
    stamp = iso(now)
    return WorkOrder(id=work_order_id, vin=vin, customer_id=customer_id, branch_id=branch_id, jobs=list(new.jobs),
                     eta=iso(new.eta), eta_told=iso(new.eta), status=S.NEW.value, created_at=stamp,
                     updated_at=stamp, created_by=by,
                     language=language, appointment_id=new.appointment_id,
                     history=[HistoryEntry(stamp, by, "created", None, S.NEW.value)])


def change(current: WorkOrder, changes: WorkOrderChanges, *, by: str, now: datetime) -> WorkOrder:
    """The changes applied (409 naming the allowed next statuses; a stage only while in progress); the same object
    back when nothing changes. Moving into progress starts at `inspecting` unless a stage is given; leaving it
    clears the stage. New jobs are a new estimate: it needs approval again."""
    stamp = iso(now)
    fields: dict[str, Any] = {}
    entries: list[HistoryEntry] = []
    status = current.status
    if "status" in changes.sent and changes.status and changes.status != current.status:
        allowed = NEXT[current.status]
        if changes.status not in allowed:
            raise Conflict(f"A work order that is {current.status} cannot become {changes.status} "
                           f"(allowed: {', '.join(allowed) or 'none'}).", allowed=list(allowed))
        status = fields["status"] = changes.status
        entries.append(HistoryEntry(stamp, by, "status", current.status, status))
    stage = current.stage if status == S.IN_PROGRESS else None
    if status == S.IN_PROGRESS and current.status != S.IN_PROGRESS and stage is None:
        stage = Stage.INSPECTING.value
    if "stage" in changes.sent and changes.stage is not None:
        if status != S.IN_PROGRESS:
            raise Conflict(f"A stage is set only while the work order is in progress (it is {status}).",
                           allowed=[])
        stage = changes.stage
    if stage != current.stage:
        fields["stage"] = stage
        entries.append(HistoryEntry(stamp, by, "stage", current.stage, stage))
    if ("jobs" in changes.sent or changes.approved) and status not in LATE_STATUSES:
        raise Conflict(f"The estimate is changed and approved while the work order is open (it is {status}).",
                       allowed=[s.value for s in LATE_STATUSES])
    if "eta" in changes.sent and changes.eta is not None and changes.eta <= now:
        raise ValidationFailed([FieldError("eta", "is in the past")])
    if "eta" in changes.sent and changes.eta is not None and iso(changes.eta) != current.eta:
        fields["eta"] = iso(changes.eta)
        entries.append(HistoryEntry(stamp, by, "eta", current.eta, fields["eta"]))
        told = datetime.fromisoformat(current.eta_told or current.eta)
        if changes.eta - told > DELAY_TOLD_AFTER:  # later than they were told by more than that: a delay to tell
            fields["eta_told"] = fields["eta"]
    if "jobs" in changes.sent and changes.jobs is not None and changes.jobs != current.jobs:
        old_total = current.estimate_total
        fields.update(jobs=list(changes.jobs), approved_at=None, approved_by=None)
        entries.append(HistoryEntry(stamp, by, "estimate", money_text(old_total),
                                    money_text(sum((j.estimate_amount for j in changes.jobs), Decimal("0.00")))))
    if changes.approved and current.approved_at is None or (changes.approved and "jobs" in fields):
        fields.update(approved_at=stamp, approved_by=by)
        entries.append(HistoryEntry(stamp, by, "approved", None, money_text(
            sum((j.estimate_amount for j in fields.get("jobs", current.jobs)), Decimal("0.00")))))
        if (fields.get("stage", current.stage)) == Stage.WAITING_APPROVAL and "stage" not in changes.sent:
            fields["stage"] = Stage.REPAIRING.value
            entries.append(HistoryEntry(stamp, by, "stage", Stage.WAITING_APPROVAL.value, Stage.REPAIRING.value))
    if not fields:
        return current
    return replace(current, **fields, updated_at=stamp, version=current.version + 1,
                   history=[*current.history, *entries])


@dataclass(frozen=True)
class Notice:
    """A message the customer gets once (`key`) for a change of their work order."""

    kind: str
    key: str
    fields: dict[str, str]


def notices(old: WorkOrder | None, new: WorkOrder, zone: ZoneInfo) -> list[Notice]:
    """What the customer hears of this change: checked in (a new work order), an estimate waiting for approval
    (each amount once), a delay (the ETA now later than the one they were last told by more than
    DELAY_TOLD_AFTER, however many small moves it took: `change` records it in `eta_told`), ready for pick-up."""
    lang = new.language if new.language in SENTENCES else "id"
    found: list[Notice] = []
    if old is None:
        return [Notice("work_order_checked_in", f"wo-checked-in#{new.id}", {"eta": when(new.eta, lang, zone)})]
    if new.stage == Stage.WAITING_APPROVAL and (old.stage != Stage.WAITING_APPROVAL
                                               or old.estimate_total != new.estimate_total):
        found.append(Notice("work_order_estimate", f"wo-estimate#{new.id}#{money_text(new.estimate_total)}",
                            {"amount": rupiah(new.estimate_total)}))
    if new.status in LATE_STATUSES and new.eta_told and new.eta_told != old.eta_told:
        found.append(Notice("work_order_delayed", f"wo-delayed#{new.id}#{new.eta_told}",
                            {"eta": when(new.eta_told, lang, zone)}))
    if new.status == S.COMPLETED and old.status != S.COMPLETED:
        found.append(Notice("work_order_ready", f"wo-ready#{new.id}", {}))
    return found


LATE_BY = "system:late-work-orders"  # a complaint the CRM opens: its customer gets no "received" message


def is_late(w: WorkOrder, now: datetime, margin: timedelta) -> bool:
    return w.status in LATE_STATUSES and datetime.fromisoformat(w.eta) + margin < now and not w.late_complaint_id


def late_complaint_id(w: WorkOrder) -> str:
    """The complaint a late work order opens has an id made from the work order's, so a second run of the job
    (or a twin of it) finds it rather than opening another: the work order's time and 80 bits of a hash."""
    import hashlib

    from ulid import ULID

    tail = hashlib.sha256(f"late#{w.id}".encode()).digest()[:10]
    return str(ULID.from_bytes(ULID.from_str(w.id).bytes[:6] + tail))


def late_complaint(w: WorkOrder, branch_id: str, *, now: datetime) -> Any:
    """The complaint a late work order opens (category service, severity high, `ref` the work order's id), in the
    customer's branch. No personal data: the work order's reference, ETA and status."""
    from chalicelib.domain.complaints import NewComplaint, new_case

    ref = w.id[-8:]
    new = NewComplaint(category="service", severity="high", ref=w.id, work_order_id=w.id,
                       subject=f"Work order {ref} past its ETA",
                       description=f"Work order {ref} was expected ready {w.eta} and is still {w.status} on "
                                   f"{iso(now)} (found by the late-deliveries job).")
    return new_case(new, case_id=late_complaint_id(w), customer_id=w.customer_id, branch_id=branch_id, by=LATE_BY,
                    now=now)


def mark_late(w: WorkOrder, complaint_id: str, *, now: datetime) -> WorkOrder:
    entry = HistoryEntry(iso(now), LATE_BY, "late", w.eta, complaint_id)
    return replace(w, late_complaint_id=complaint_id, updated_at=iso(now), version=w.version + 1,
                   history=[*w.history, entry])


INVOICEABLE = (S.COMPLETED, S.CLOSED)


def invoice_number(w: WorkOrder) -> str:
    """The order number a work order's invoice gets: made from its id, so invoicing twice finds the same order
    (an order number is unique per branch)."""
    return f"WO-{w.id[-10:]}"


def check_invoiceable(w: WorkOrder) -> None:
    if w.status not in INVOICEABLE:
        raise Conflict(f"A work order is invoiced once it is completed or closed (it is {w.status}).",
                       allowed=[s.value for s in INVOICEABLE])


def mark_invoiced(w: WorkOrder, order_id: str, *, by: str, now: datetime) -> WorkOrder:
    if w.invoice_order_id == order_id:
        return w
    entry = HistoryEntry(iso(now), by, "invoiced", None, order_id)
    return replace(w, invoice_order_id=order_id, updated_at=iso(now), version=w.version + 1,
                   history=[*w.history, entry])
