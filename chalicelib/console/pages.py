"""The console's pages: each a view over the same services the JSON API calls.

A view returns the template's variables; the frame (chalicelib/console/frame.py)
has already verified the token and authorized the page's operation. Where a
page shows more than its operation covers (the customer 360 shows the
timeline, due items and complaints), it asks `may()` for each part, and a part
the caller may not see is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chalicelib.console import campaigns, service
from chalicelib.console.frame import Ctx, Page, Redirect, may, validated
from chalicelib.domain.errors import DomainError, FieldError, Forbidden, ValidationFailed

TIMELINE_LIMIT = 10
SEARCH_LIMIT = 20
QUEUE_PAGE = 100
QUEUE_MAX_PER_STATUS = 500  # beyond this many of one status, the queue says it is cut


def _filled(form: Mapping[str, str], *names: str) -> dict[str, Any]:
    """The form's non-empty fields among `names` (an empty field is left as it was)."""
    return {n: form[n].strip() for n in names if form.get(n, "").strip()}


# --- the frame: nav ----------------------------------------------------------------------------------------------------

def _menu(ctx: Ctx) -> list[tuple[str, str]]:
    """(word, path) of each page with a menu entry that the caller may open, in PAGES' order."""
    return [(page.menu, page.path) for page in PAGES if page.menu and may(ctx, page.operation) is not None]


def nav(ctx: Ctx) -> Mapping[str, Any]:
    entries = _menu(ctx)
    principal = ctx.access.principal
    return {"entries": entries, "username": principal.username,
            "roles": ", ".join(sorted(r.value for r in principal.roles)), "branch": principal.branch}


# --- search and screen-pop ---------------------------------------------------------------------------------------------

def home(ctx: Ctx) -> Mapping[str, Any]:
    """/console: the first page of the caller's menu (the search for staff, the dashboard for analysts)."""
    entries = _menu(ctx)
    if not entries:
        raise Forbidden("No console page for this role.")
    raise Redirect(entries[0][1])


def search(ctx: Ctx) -> Mapping[str, Any]:
    return {"q": ctx.query.get("q", ""), "erased": ctx.query.get("erased") == "1"}


def search_results(ctx: Ctx) -> Mapping[str, Any]:
    from chalicelib.api import cursors
    from chalicelib.services import customers

    q = ctx.query.get("q", "").strip()
    if not q:
        return {"items": [], "q": q, "next_cursor": None, "more": False}
    scope = "|".join(["console.search", str(ctx.access.branch), q])
    items, next_key = customers.list_page(ctx.access, branch=None, stage=None, tag=None, q=q, limit=SEARCH_LIMIT,
                                          start_key=cursors.decode(ctx.query.get("cursor"), scope))
    return {"items": items, "q": q, "next_cursor": cursors.encode(next_key, scope),
            "more": bool(ctx.query.get("cursor"))}


def pop(ctx: Ctx) -> Mapping[str, Any]:
    """What a telephony system opens on an incoming call. Another branch's customer is "not found", exactly
    like a missing one (the lookup's own rule)."""
    from chalicelib.domain.customers import normalize_phone
    from chalicelib.domain.errors import NotFound
    from chalicelib.services import customers

    phone = ctx.query.get("phone", "").strip()
    try:
        customer = customers.lookup(ctx.access, phone=normalize_phone(phone, _region()), email=None)
    except (NotFound, ValueError):
        return {"customer": None, "phone": phone, "may_create": may(ctx, "customers.create") is not None}
    return {"customer": customer, "phone": phone, **_overview(ctx, customer)}


def _region() -> str:
    from chalicelib.config import settings

    return settings().default_phone_region


def _overview(ctx: Ctx, customer: Any) -> dict[str, Any]:
    """The card's other parts: open complaints, due items, the last timeline entries (each if the role may)."""
    from chalicelib.services import complaints, interactions, reminders

    now = datetime.now(UTC)
    timeline: list[Any] = []
    if (access := may(ctx, "customers.timeline")) is not None:
        timeline, _ = interactions.timeline(access, customer.id, TIMELINE_LIMIT, None)
    due = reminders.due_of(access, customer) if (access := may(ctx, "due_items.list")) else []
    open_cases = []
    if (access := may(ctx, "complaints.list")) is not None:
        open_cases = [_sla(c, now) for c in complaints.open_of_customer(access, customer)]
    return {"timeline": [_entry(e, now) for e in timeline], "due_items": due, "open_complaints": open_cases,
            "now": now}


def _entry(entry: Any, now: datetime) -> dict[str, Any]:
    from chalicelib.domain.campaigns import Recipient
    from chalicelib.domain.complaints import Complaint
    from chalicelib.domain.orders import Order
    from chalicelib.domain.surveys import Survey

    if isinstance(entry, Complaint):
        return {"type": "complaint", "at": entry.created_at, "item": entry}
    if isinstance(entry, Order):
        return {"type": "order", "at": entry.placed_at, "item": entry}
    if isinstance(entry, Recipient):
        return {"type": "campaign_message", "at": entry.sent_at, "item": entry}
    if isinstance(entry, Survey):
        return {"type": "survey", "at": entry.sent_at, "item": entry}
    return {"type": "interaction", "at": entry.occurred_at, "item": entry}


def _sla(c: Any, now: datetime) -> dict[str, Any]:
    """The complaint's next deadline and its colour: green, amber once half its window is gone, red when missed.

    The window runs from the opening (or the reopen) to the deadline. Under a local time scale
    (RELASI_TIME_SCALE, as the escalation workflow waits) the window's time runs that many times faster,
    so the colours change when the workflow escalates."""
    from chalicelib.config import settings
    from chalicelib.domain.clock import parse_iso

    due = c.due_at()
    if due is None:
        return {"complaint": c, "due_at": None, "state": "done", "window_start": None, "scale": 1.0}
    start = c.reopened_at or c.created_at
    deadline, begun = parse_iso(due), parse_iso(start)
    scale = max(float(settings().time_scale), 1.0)
    now = begun + (now - begun) * scale if now > begun else now
    if now >= deadline or c.breached(now):
        state = "red"
    elif now >= begun + (deadline - begun) / 2:
        state = "amber"
    else:
        state = "green"
    return {"complaint": c, "due_at": due, "state": state, "window_start": start, "scale": scale}


# --- customer 360 ------------------------------------------------------------------------------------------------------

def customer(ctx: Ctx, customer_id: str) -> Mapping[str, Any]:
    from chalicelib.services import customers

    found = customers.get(ctx.access, customer_id)
    answers: list[Any] = []
    if (access := may(ctx, "customers.timeline")) is not None:
        from chalicelib.services import surveys

        answers = surveys.last_answers(access, found)
    return {"customer": found, "answers": answers, **_overview(ctx, found), **_choices(ctx)}


def _choices(ctx: Ctx) -> dict[str, Any]:
    from chalicelib.domain.complaints import Category, Severity
    from chalicelib.domain.consent import CONSENT_TOPICS
    from chalicelib.domain.customers import LifecycleStage
    from chalicelib.domain.interactions import Direction, InteractionChannel, InteractionKind

    return {"stages": [s.value for s in LifecycleStage], "channels": [c.value for c in InteractionChannel],
            "directions": [d.value for d in Direction], "kinds": [k.value for k in InteractionKind],
            "categories": [c.value for c in Category], "severities": [s.value for s in Severity],
            "topics": CONSENT_TOPICS,
            "may_edit": may(ctx, "customers.update") is not None,
            "may_record": may(ctx, "interactions.create") is not None,
            "may_consent": may(ctx, "customers.consent") is not None,
            "may_complain": may(ctx, "complaints.create") is not None,
            "may_erase": may(ctx, "customers.delete") is not None}


def update_profile(ctx: Ctx, customer_id: str) -> Mapping[str, Any]:
    """The profile form, with the ETag it was read at: a conflicting edit shows "changed by someone else"
    with a reload, and overwrites nothing."""
    from chalicelib.api.customers_models import CustomerPatch
    from chalicelib.domain.errors import Conflict, ContactInUse, PreconditionFailed
    from chalicelib.services import customers

    body: dict[str, Any] = _filled(ctx.form, "name", "phone", "lifecycle_stage")
    # an optional field left empty is cleared (a merge patch's null)
    body.update({n: ctx.form[n].strip() or None for n in ("email", "city", "address") if n in ctx.form})
    try:
        changes = validated(CustomerPatch, body).to_domain()
        updated = customers.update(ctx.access, customer_id, ctx.form.get("etag"), changes)
    except PreconditionFailed:
        return {"customer": customers.get(ctx.access, customer_id), "conflict": True, "_status": 412,
                **_choices(ctx)}
    except (ValidationFailed, ContactInUse, Conflict) as exc:
        errors = exc.errors if isinstance(exc, ValidationFailed) else [FieldError("phone", ctx.t("error.taken"))]
        # the form as the agent filled it, to correct, over the customer as stored
        return {"customer": customers.get(ctx.access, customer_id), "typed": ctx.form, "errors": errors,
                "_status": 422 if isinstance(exc, ValidationFailed) else 409, **_choices(ctx)}
    return {"customer": updated, "saved": True, **_choices(ctx)}


def record_interaction(ctx: Ctx, customer_id: str) -> Mapping[str, Any]:
    """The new entry, for the top of the timeline (htmx puts it there, no page load)."""
    from chalicelib.api.interactions_models import InteractionCreate
    from chalicelib.services import interactions

    entry = validated(InteractionCreate, _filled(ctx.form, "channel", "direction", "kind", "summary"))
    made = interactions.add(ctx.access, customer_id, entry.to_domain())
    return {"entry": _entry(made, datetime.now(UTC))}


def set_consent(ctx: Ctx, customer_id: str) -> Mapping[str, Any]:
    from chalicelib.domain.consent import CONSENT_TOPICS, ConsentGiven
    from chalicelib.services import consent

    topic = ctx.form.get("topic", "")
    source = ctx.form.get("source", "").strip()
    if topic not in CONSENT_TOPICS or ctx.form.get("value") not in ("true", "false") or not source:
        raise ValidationFailed([FieldError("source", "is required")] if not source else
                               [FieldError("topic", "is not a consent topic")])
    updated = consent.set_marketing(ctx.access, customer_id,
                                    {topic: ConsentGiven(value=ctx.form["value"] == "true", source=source[:100])})
    return {"customer": updated, "oob": True, **_choices(ctx)}


def open_complaint(ctx: Ctx, customer_id: str) -> Mapping[str, Any]:
    from chalicelib.api.complaints_models import ComplaintCreate
    from chalicelib.services import complaints

    new = validated(ComplaintCreate, _filled(ctx.form, "category", "severity", "subject", "description"))
    made = complaints.open_case(ctx.access, customer_id, new.to_domain())
    return {"row": _sla(made, datetime.now(UTC))}


def erase(ctx: Ctx, customer_id: str) -> Mapping[str, Any]:
    from chalicelib.services import customers

    customers.delete(ctx.access, customer_id)
    raise Redirect("/console/search?erased=1")  # the search page says so


def new_customer(ctx: Ctx) -> Mapping[str, Any]:
    return {"phone": ctx.query.get("phone", ""), "form": {}, "errors": [], "branches": _branches(ctx),
            "holder": None}


def create_customer(ctx: Ctx) -> Mapping[str, Any]:
    from chalicelib.api.customers_models import CustomerCreate
    from chalicelib.domain.errors import Conflict, ContactInUse
    from chalicelib.services import customers

    body = _filled(ctx.form, "name", "phone", "email", "city", "branch_id")
    branches = _branches(ctx)
    try:
        made = customers.create(ctx.access, validated(CustomerCreate, body).to_domain())
    except ValidationFailed as exc:
        return {"phone": body.get("phone", ""), "form": body, "errors": exc.errors, "_status": 422,
                "branches": branches, "holder": None}
    except (ContactInUse, Conflict) as exc:  # Conflict names the holder to a caller who may see them
        holder = exc.extra.get("existing_customer_id") if isinstance(exc, Conflict) else None
        return {"phone": body.get("phone", ""), "form": body, "_status": 409, "branches": branches,
                "holder": holder, "errors": [FieldError("phone", ctx.t("error.taken"))]}
    raise Redirect(f"/console/customers/{made.id}")


def _branches(ctx: Ctx) -> list[str]:
    """The branches a caller without one of their own chooses from (a branch-scoped caller works in theirs)."""
    from chalicelib.config import settings

    return [] if ctx.access.branch else list(settings().branches)


# --- complaint queue ---------------------------------------------------------------------------------------------------

def queue(ctx: Ctx) -> Mapping[str, Any]:
    from chalicelib.domain.complaints import UNRESOLVED, Department

    return {"department": ctx.query.get("department", ""), "branch": ctx.query.get("branch", ""),
            "status": ctx.query.get("status", ""), "statuses": UNRESOLVED,
            "departments": [d.value for d in Department],
            "branches": _branches(ctx)}


def queue_rows(ctx: Ctx) -> Mapping[str, Any]:
    """The open complaints (open, acknowledged, in progress), the next deadline first."""
    from chalicelib.domain.complaints import UNRESOLVED
    from chalicelib.services import complaints

    department = ctx.query.get("department") or None
    branch = ctx.query.get("branch") or None
    asked = ctx.query.get("status") or None
    rows = []
    cut = False
    now = datetime.now(UTC)
    for status in (asked,) if asked in UNRESOLVED else UNRESOLVED:
        start_key = None
        read = 0
        while True:  # every page: the oldest, most overdue ones come last in the index's newest-first order
            items, start_key = complaints.list_page(ctx.access, branch=branch, department=department, status=status,
                                                    severity=None, limit=QUEUE_PAGE, start_key=start_key)
            rows += [_sla(c, now) for c in items]
            read += QUEUE_PAGE
            if start_key is None:
                break
            if read >= QUEUE_MAX_PER_STATUS:
                cut = True
                break
    rows.sort(key=lambda r: r["due_at"] or "~")
    return {"rows": rows, "cut": cut, "may_update": may(ctx, "complaints.update") is not None}


MOVE_ATTEMPTS = 3  # reads of the complaint a queue action makes when it changes between the read and the write


def move_complaint(ctx: Ctx, complaint_id: str) -> Mapping[str, Any]:
    """Acknowledge, take, or move along the lifecycle with the API's rules (a 409 names the allowed states).

    The row carries the status and assignee the agent saw: if a person changed either since, the action is a
    conflict (412, reload); an escalation meanwhile is not (the workflow changes neither), so the action applies
    to the complaint as it is now, guarded by that version's ETag: an escalation that lands between that read and
    the write (the red clock's moment, when the agent clicks) means one more read, not a conflict."""
    from chalicelib.domain.complaints import ComplaintChanges
    from chalicelib.domain.errors import PreconditionFailed
    from chalicelib.services import complaints

    seen = (ctx.form.get("seen_status"), ctx.form.get("seen_assignee", ""), ctx.form.get("seen_note", ""))
    sent = set()
    changes: dict[str, Any] = {}
    if ctx.form.get("status"):
        sent.add("status")
        changes["status"] = ctx.form["status"]
    if ctx.form.get("assignee") == "me":
        sent.add("assignee")
        changes["assignee"] = ctx.access.principal.username or ctx.access.principal.sub
    if ctx.form.get("resolution_note", "").strip():
        sent.add("resolution_note")
        changes["resolution_note"] = ctx.form["resolution_note"].strip()[:2000]
    for attempt in range(1, MOVE_ATTEMPTS + 1):
        current = complaints.get(ctx.access, complaint_id)
        if (current.status, current.assignee or "", current.resolution_note or "") != seen:
            raise PreconditionFailed("The complaint was changed by someone else; fetch it again.")
        try:
            updated = complaints.update(ctx.access, complaint_id, current.etag,
                                        ComplaintChanges(sent=frozenset(sent), **changes))
            break
        except PreconditionFailed:  # changed between the read and the write (an escalation due now): read again
            if attempt == MOVE_ATTEMPTS:
                raise
    # the row as it is now; the queue reloads its rows (a row that left the filter goes)
    return {"row": _sla(updated, datetime.now(UTC)), "may_update": True, "_headers": {"HX-Trigger": "queue-changed"}}


# --- orders ------------------------------------------------------------------------------------------------------------

def orders_page(ctx: Ctx) -> Mapping[str, Any]:
    return {"q": ctx.query.get("q", "")}


def order_results(ctx: Ctx) -> Mapping[str, Any]:
    """"Where is my order?": an order number (of the caller's branch) or the customer's phone in any form."""
    from chalicelib.domain.customers import looks_like_phone, normalize_phone
    from chalicelib.domain.errors import NotFound, Unprocessable
    from chalicelib.domain.orders import status_text
    from chalicelib.services import orders

    q = ctx.query.get("q", "").strip()
    if not q:
        return {"rows": [], "q": q}
    try:
        if looks_like_phone(q) and not any(c.isalpha() for c in q):
            _, found, language = orders.lookup(ctx.access, order_no=None, branch=None,
                                               phone=normalize_phone(q, _region()))
        else:
            _, found, language = orders.lookup(ctx.access, order_no=q.upper()[:30], branch=ctx.query.get("branch"),
                                               phone=None)
    except (NotFound, Unprocessable, ValueError):
        found, language = [], None
    return {"q": q, "rows": [{"order": o, "text": status_text(o, language or ctx.lang)} for o in found]}


def order(ctx: Ctx, order_id: str) -> Mapping[str, Any]:
    from chalicelib.domain.orders import NEXT, PAYMENT_NEXT, ReturnReason
    from chalicelib.domain.shipments import CARRIERS
    from chalicelib.domain.shipments import NEXT as SHIPMENT_NEXT
    from chalicelib.services import orders

    found = orders.get(ctx.access, order_id)
    shipped: dict[int, Decimal] = {}
    for s in found.shipments:
        if s.status not in ("failed", "returning"):
            for line in s.lines:
                shipped[line.line_no] = shipped.get(line.line_no, Decimal(0)) + line.qty
    left = [(line, line.qty - shipped.get(line.line_no, Decimal(0))) for line in found.lines]
    return {"order": found, "next": NEXT.get(found.status, ()), "pay_next": PAYMENT_NEXT.get(found.payment_status, ()),
            "reasons": [r.value for r in ReturnReason], "may_update": may(ctx, "orders.update") is not None,
            "may_ship": may(ctx, "shipments.create") is not None and found.status in (
                "confirmed", "partially_shipped") and any(qty > 0 for _, qty in left),
            "may_record": may(ctx, "shipments.event") is not None, "left": [(ln, q) for ln, q in left if q > 0],
            "carriers": CARRIERS, "shipment_next": SHIPMENT_NEXT}


def ship(ctx: Ctx, order_id: str) -> Mapping[str, Any]:
    """Ship the quantities the form names (`qty_<line_no>`; empty or 0 leaves the line) with a carrier."""
    from chalicelib.api.shipments_models import ShipmentCreate
    from chalicelib.services import shipments

    lines = [{"line_no": int(name[4:]), "qty": value} for name, value in ctx.form.items()
             if name.startswith("qty_") and name[4:].isdigit() and value.strip() not in ("", "0")]
    body = {"carrier": ctx.form.get("carrier"), "tracking_number": ctx.form.get("tracking_number"), "lines": lines}
    if ctx.form.get("expected_delivery_date"):
        body["expected_delivery_date"] = ctx.form.get("expected_delivery_date")
    shipments.create(ctx.access, order_id, validated(ShipmentCreate, body).to_domain())
    raise Redirect(f"/console/orders/{order_id}")


def record_step(ctx: Ctx, shipment_id: str) -> Mapping[str, Any]:
    """A step of a shipment's journey, as staff record it (the lifecycle's rules: a 409 says what may follow)."""
    from chalicelib.api.shipments_models import ShipmentEventCreate
    from chalicelib.services import shipments

    body = {"status": ctx.form.get("status")}
    if ctx.form.get("expected_delivery_date"):
        body["expected_delivery_date"] = ctx.form.get("expected_delivery_date")
    moved, _ = shipments.event(ctx.access, shipment_id, validated(ShipmentEventCreate, body).to_domain())
    raise Redirect(f"/console/orders/{moved.order_id}")


def move_order(ctx: Ctx, order_id: str) -> Mapping[str, Any]:
    """A status or payment move with the ETag the page was read at (a change by someone else meanwhile: 412)."""
    from chalicelib.domain.orders import OrderChanges
    from chalicelib.services import orders

    sent = {name for name in ("status", "payment_status") if ctx.form.get(name)}
    changes = OrderChanges(sent=frozenset(sent), status=ctx.form.get("status") or None,
                           payment_status=ctx.form.get("payment_status") or None,
                           return_reason=ctx.form.get("return_reason") or None)
    orders.update(ctx.access, order_id, ctx.form.get("etag"), changes)
    raise Redirect(f"/console/orders/{order_id}")


# --- dashboard ---------------------------------------------------------------------------------------------------------

def dashboard(ctx: Ctx) -> Mapping[str, Any]:
    """The branch's numbers at a glance. Analysts see the same numbers, without customer names (no churn list)."""
    from chalicelib.services import analytics

    branch = ctx.query.get("branch") or None
    summary = analytics.summary(ctx.access, branch, None, None)
    insights: dict[str, Any] | None
    try:
        insights = analytics.insights(ctx.access, branch)
    except DomainError:
        insights = None
    churn = None
    if (access := may(ctx, "analytics.churn_risk")) is not None:
        try:
            churn = analytics.churn_risk(access, branch or access.branch, 10)
        except DomainError:
            churn = None
    from chalicelib.console import charts

    money = _money(ctx, branch)
    satisfaction = _satisfaction(ctx, branch)
    return {"summary": summary, "insights": insights, "churn": churn, "branch": branch, "money": money,
            "satisfaction": satisfaction,
            "charts": charts.dashboard(summary, insights, ctx.t)
            + ([charts.satisfaction(satisfaction["days"]["items"], ctx.t),
                charts.recommendation(satisfaction["days"]["items"], ctx.t)] if satisfaction else [])
            + ([charts.forecast(money["forecast"]["branches"], ctx.t)] if money else [])}


def _satisfaction(ctx: Ctx, branch: str | None) -> dict[str, Any] | None:
    """The satisfaction surveys of the last 30 days: CSAT and NPS per day, and (managers, admins) the staff table."""
    from chalicelib.services import analytics

    if (access := may(ctx, "analytics.satisfaction")) is None:
        return None
    days = analytics.satisfaction(access, branch, None, None, "day")
    try:
        staff = analytics.satisfaction(access, branch, None, None, "staff")["items"]
    except DomainError:  # analysts: departments, never people
        staff = None
    return {"days": days, "staff": staff}


def _money(ctx: Ctx, branch: str | None) -> dict[str, Any] | None:
    """The money analyses of the latest export for those who may see them: the months' profit (the branches
    together), the forecast, the newest transaction flags and the strongest basket rules."""
    from chalicelib.services import analytics

    if (access := may(ctx, "analytics.money")) is None:
        return None
    try:
        profit = analytics.profitability(access, branch)
        money: dict[str, Any] = {"forecast": analytics.forecast(access, branch),
                                 "flags": analytics.transaction_flags(access, branch, None),
                                 "basket": analytics.basket(access, branch, "category")}
    except DomainError:
        return None
    money["months"] = [{**m, "coverage": round(m["cost_coverage"] * 100) if m["cost_coverage"] is not None else None}
                       for m in profit["months"][-6:]]
    money["as_of"] = profit["as_of"]
    money["may_campaign"] = may(ctx, "campaigns.create") is not None  # a rule starts a cross-sell campaign
    return money


PAGES: list[Page] = [
    Page("GET", "/console/nav", "console.open", nav, "nav.html"),
    Page("GET", "/console", "console.open", home, "error.html", title="app"),
    Page("GET", "/console/search", "customers.list", search, "search.html", title="menu.search", menu="menu.search"),
    Page("GET", "/console/search/results", "customers.list", search_results, "search_results.html"),
    Page("GET", "/console/pop", "customers.lookup", pop, "pop.html", title="page.pop"),
    Page("GET", "/console/customers/new", "customers.create", new_customer, "new_customer.html",
         title="page.new_customer"),
    Page("POST", "/console/customers", "customers.create", create_customer, "new_customer.html"),
    Page("GET", "/console/customers/{customer_id}", "customers.get", customer, "customer.html", title="page.customer"),
    Page("POST", "/console/customers/{customer_id}/profile", "customers.update", update_profile, "profile.html"),
    Page("POST", "/console/customers/{customer_id}/interactions", "interactions.create", record_interaction,
         "timeline_entry.html"),
    Page("POST", "/console/customers/{customer_id}/consent", "customers.consent", set_consent, "consent.html"),
    Page("POST", "/console/customers/{customer_id}/complaints", "complaints.create", open_complaint,
         "complaint_card.html"),
    Page("POST", "/console/customers/{customer_id}/erase", "customers.delete", erase, "error.html"),
    Page("GET", "/console/complaints", "complaints.list", queue, "queue.html", title="menu.queue", menu="menu.queue"),
    Page("GET", "/console/complaints/rows", "complaints.list", queue_rows, "queue_rows.html"),
    Page("POST", "/console/complaints/{complaint_id}", "complaints.update", move_complaint, "queue_row.html"),
    Page("GET", "/console/orders", "orders.get", orders_page, "orders.html", title="menu.orders", menu="menu.orders"),
    Page("GET", "/console/orders/results", "orders.get", order_results, "order_results.html"),
    Page("GET", "/console/orders/{order_id}", "orders.get", order, "order.html", title="page.order"),
    Page("POST", "/console/orders/{order_id}", "orders.update", move_order, "order.html"),
    Page("POST", "/console/orders/{order_id}/shipments", "shipments.create", ship, "order.html"),
    Page("POST", "/console/shipments/{shipment_id}/events", "shipments.event", record_step, "order.html"),
    Page("GET", "/console/campaigns", "campaigns.list", campaigns.campaigns_page, "campaigns.html",
         title="menu.campaigns", menu="menu.campaigns"),
    Page("GET", "/console/campaigns/new", "campaigns.create", campaigns.new_campaign, "campaign.html",
         title="campaign.new"),
    Page("POST", "/console/campaigns", "campaigns.create", campaigns.create_campaign, "campaign.html"),
    Page("GET", "/console/campaigns/{campaign_id}", "campaigns.get", campaigns.campaign, "campaign.html",
         title="page.campaign"),
    Page("POST", "/console/campaigns/{campaign_id}", "campaigns.update", campaigns.save_campaign, "campaign.html"),
    Page("POST", "/console/campaigns/{campaign_id}/move", "campaigns.schedule", campaigns.move_campaign,
         "campaign.html"),
    Page("POST", "/console/campaigns/{campaign_id}/approve", "campaigns.approve", campaigns.approve_campaign,
         "campaign.html"),
    Page("POST", "/console/campaigns/{campaign_id}/test-send", "campaigns.test_send", campaigns.test_send,
         "campaign.html"),
    Page("GET", "/console/campaigns/{campaign_id}/report", "campaigns.report", campaigns.report,
         "campaign_report.html", title="page.campaign_report"),
    Page("GET", "/console/service", "vehicles.lookup", service.desk, "service.html", title="menu.service",
         menu="menu.service"),
    Page("GET", "/console/service/plate", "vehicles.lookup", service.plate_card, "service_plate.html"),
    Page("GET", "/console/service/slots", "appointments.slots", service.slots, "service_slots.html"),
    Page("POST", "/console/service/appointments", "appointments.create", service.book, "service_booked.html"),
    Page("GET", "/console/service/board", "work_orders.list", service.board, "service_board.html"),
    Page("POST", "/console/vehicles/{vin}/work-orders", "work_orders.create", service.open_work_order,
         "work_order.html"),
    Page("GET", "/console/work-orders/{work_order_id}", "work_orders.get", service.work_order, "work_order.html",
         title="page.work_order"),
    Page("POST", "/console/work-orders/{work_order_id}", "work_orders.update", service.move_work_order,
         "work_order.html"),
    Page("POST", "/console/work-orders/{work_order_id}/invoice", "work_orders.invoice", service.invoice,
         "work_order.html"),
    Page("GET", "/console/dashboard", "analytics.summary", dashboard, "dashboard.html", title="menu.dashboard",
         menu="menu.dashboard"),
]
