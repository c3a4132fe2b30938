"""The console's service desk: a plate's vehicle with its owner, next appointment and open work orders; the
branch workshop's slots with their free places and booking; the work-order board with ETA clocks; a work order's
page with the status as the customer hears it. The same use cases as the API's routes (chalicelib/services)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.console.frame import Ctx, Redirect, may, validated
from chalicelib.domain.errors import NotFound, ValidationFailed

ETA_AMBER_HOURS = 2  # the board's ETA clock turns amber this long before the ETA, red after it


def _zone() -> ZoneInfo:
    from chalicelib.config import settings

    return ZoneInfo(settings().timezone)


def _today() -> str:
    return datetime.now(_zone()).date().isoformat()


def _branch(ctx: Ctx) -> str:
    return ctx.query.get("branch") or ctx.form.get("branch") or ctx.access.principal.branch or ""


def _service_types() -> list[str]:
    from chalicelib.domain.appointments import ServiceType

    return [s.value for s in ServiceType]


def desk(ctx: Ctx) -> Mapping[str, Any]:
    return {"plate": ctx.query.get("plate", ""), "branch": _branch(ctx), "today": _today(),
            "types": _service_types(), "may_board": may(ctx, "work_orders.list") is not None}


def plate_card(ctx: Ctx) -> Mapping[str, Any]:
    """The vehicle a plate names, with its owner, next appointment and open work orders (two DynamoDB requests)."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.domain.vehicles import normalize_plate
    from chalicelib.services import vehicles

    raw = ctx.query.get("plate", "").strip()
    if not raw:
        return {"searched": False}
    try:
        v = vehicles.lookup(ctx.access, normalize_plate(raw))
    except (ValueError, NotFound):
        return {"searched": True, "vehicle": None, "plate": raw}
    zone = _zone()
    return {"searched": True, "vehicle": v, "plate": raw, "today": _today(), "types": _service_types(),
            **v.desk_view(iso(utcnow()), zone),
            "may_book": may(ctx, "appointments.create") is not None and v.owner_id is not None,
            "may_open": may(ctx, "work_orders.create") is not None and v.owner_id is not None,
            "eta_default": (datetime.now(zone) + timedelta(hours=4)).strftime("%Y-%m-%dT%H:00")}


def slots(ctx: Ctx) -> Mapping[str, Any]:
    """A day's starts for a service type with their free places; with a vehicle and its owner, a Book button on
    each free one."""
    from chalicelib.api.appointments_models import SlotsQuery
    from chalicelib.services import appointments

    q = validated(SlotsQuery, {"date": ctx.query.get("date") or _today(),
                               "service_type": ctx.query.get("service_type") or "periodic"})
    branch = _branch(ctx)
    found = appointments.slots(ctx.access, branch, q.date, q.service_type.value)
    vin, customer = ctx.query.get("vin", ""), ctx.query.get("customer", "")
    return {"slots": found, "date": q.date.isoformat(), "service_type": q.service_type.value, "branch": branch,
            "vin": vin, "customer": customer,
            "bookable": bool(vin and customer) and may(ctx, "appointments.create") is not None}


def book(ctx: Ctx) -> Mapping[str, Any]:
    from chalicelib.api.appointments_models import AppointmentCreate
    from chalicelib.services import appointments

    body = validated(AppointmentCreate, {"vin": ctx.form.get("vin", ""), "slot_start": ctx.form.get("slot_start", ""),
                                         "service_type": ctx.form.get("service_type", "")})
    made = appointments.book(ctx.access, ctx.form.get("customer", ""), body.to_domain())
    return {"appointment": made, "slot_start": datetime.fromisoformat(made.slot_start).astimezone(_zone())}


def board(ctx: Ctx) -> Mapping[str, Any]:
    """The branch's open work orders by status, soonest ETA first, each with an ETA clock."""
    from chalicelib.config import settings
    from chalicelib.services import work_orders

    branch = _branch(ctx)
    if not branch:
        raise ValidationFailed([])
    status = ctx.query.get("status") or None
    entries = work_orders.board(ctx.access, branch, status)
    scale = max(float(settings().time_scale), 1.0)
    rows = []
    for e in entries:
        eta = datetime.fromisoformat(e.eta)
        rows.append({"entry": e, "due_at": e.eta, "window_start": (eta - timedelta(hours=ETA_AMBER_HOURS * 2)).isoformat(),
                     "scale": scale, "state": "red" if eta <= datetime.now(eta.tzinfo) else "green"})
    return {"rows": rows, "branch": branch}


def work_order(ctx: Ctx, work_order_id: str) -> Mapping[str, Any]:
    from chalicelib.domain.work_orders import NEXT, Stage, status_text
    from chalicelib.services import work_orders
    from chalicelib.services.work_orders import detached

    w = work_orders.get(ctx.access, work_order_id)
    zone = _zone()
    return {"w": w, "text": status_text(w, w.language, zone), "text_other": status_text(
        w, "en" if w.language == "id" else "id", zone), "eta": datetime.fromisoformat(w.eta).astimezone(zone),
            "next": NEXT.get(w.status, ()), "stages": [s.value for s in Stage],
            "may_update": may(ctx, "work_orders.update") is not None,
            "may_invoice": may(ctx, "work_orders.invoice") is not None and w.status in ("completed", "closed")
            and w.invoice_order_id is None and not detached(w.customer_id)}


def invoice(ctx: Ctx, work_order_id: str) -> Mapping[str, Any]:
    """Invoice the work order (an order of its jobs) and open that order's page."""
    from chalicelib.services import work_orders

    _, order, _ = work_orders.invoice(ctx.access, work_order_id)
    raise Redirect(f"/console/orders/{order.id}")


def move_work_order(ctx: Ctx, work_order_id: str) -> Mapping[str, Any]:
    """A move, a stage, a new ETA or the approval, with the ETag the page was read at (someone else's change
    meanwhile: 412)."""
    from chalicelib.api.work_orders_models import WorkOrderPatch
    from chalicelib.services import work_orders

    body: dict[str, Any] = {}
    for name in ("status", "stage"):
        if ctx.form.get(name):
            body[name] = ctx.form[name]
    if ctx.form.get("eta"):
        body["eta"] = _aware(ctx.form["eta"])
    if ctx.form.get("approved"):
        body["approved"] = True
    work_orders.update(ctx.access, work_order_id, ctx.form.get("etag"), validated(WorkOrderPatch, body).to_domain())
    raise Redirect(f"/console/work-orders/{work_order_id}")


def open_work_order(ctx: Ctx, vin: str) -> Mapping[str, Any]:
    """Check a vehicle in: its jobs (description and estimate, one to three rows of the form) and the ETA."""
    from chalicelib.api.work_orders_models import WorkOrderCreate
    from chalicelib.services import work_orders

    jobs = [{"description": ctx.form.get(f"description_{n}", "").strip(),
             "estimate_amount": ctx.form.get(f"amount_{n}", "").strip() or "0"}
            for n in range(1, 4) if ctx.form.get(f"description_{n}", "").strip()]
    body: dict[str, Any] = {"jobs": jobs, "eta": _aware(ctx.form.get("eta", ""))}
    if ctx.form.get("appointment_id"):
        body["appointment_id"] = ctx.form["appointment_id"]
    made = work_orders.open_for(ctx.access, vin, validated(WorkOrderCreate, body).to_domain())
    raise Redirect(f"/console/work-orders/{made.id}")


def _aware(local: str) -> str:
    """A `datetime-local` field's value (no offset) as the deployment's local time, with its offset."""
    try:
        moment = datetime.fromisoformat(local)
    except ValueError:
        return local  # the model says what is wrong with it
    return (moment if moment.tzinfo else moment.replace(tzinfo=_zone())).isoformat()
