"""What the stream consumer does with an order's change (chalicelib/workflows/stream.py routes it here), and the
daily late-deliveries job (`late-deliveries` in app.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain.orders import Order
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.persistence.changes import Change

# The statuses a customer hears of from the order; that it left, is out for delivery or delayed they hear from
# its shipments (chalicelib/workflows/shipments.py).
ORDER_MESSAGES = ("confirmed", "delivered")
LATE_ATTEMPTS = 3  # reads of one late order when it or its customer keeps changing under the job
DELAY_NOTICE_QUIET_HOURS = 48  # a late order tells nobody again within this long of a delay notice


def order_changed(change: Change, old: Order | None, new: Order | None) -> None:
    """The customer hears, once per order and status (the claim's key), that their order is confirmed or
    delivered, and once that it is late, when the order asks for it. An order that arrives in a later status
    (history loaded in bulk) tells nobody."""
    from chalicelib.domain.consent import Purpose
    from chalicelib.domain.messages import reference, render
    from chalicelib.domain.orders import expected_phrase
    from chalicelib.persistence import customers
    from chalicelib.workflows.messages import notify

    if change.inserted or new is None or old is None or not new.notify_customer:
        return
    if new.version != old.version + 1:  # not one change by the API (a bulk rewrite of history): nobody is told
        return
    found_late = new.late_complaint_id is not None and old.late_complaint_id is None
    if not found_late and (new.status == old.status or new.status not in ORDER_MESSAGES):
        return
    customer = customers.get(new.customer_id)
    if customer is None:  # erased: nobody to tell
        return
    lang = customer.language
    if found_late:
        if _delay_told_lately(new.id):
            return
        message = render("order_late", lang, order_no=new.order_no, ref=reference(new.late_complaint_id or ""))
        key = f"order-late#{new.id}"
    else:
        expected = expected_phrase(new, lang, short_month=True).replace(";", ",")
        message = render(f"order_{new.status}", lang, order_no=new.order_no, expected=expected)
        key = f"order-{new.status}#{new.id}"
    outcome = notify(customer, message, key=key, purpose=Purpose.TRANSACTIONAL, kind="order_update", ref=new.id,
                     waking_hours=True)
    logger().info("order message", extra={"order_id": new.id, "message_kind": message.kind, "outcome": outcome})
    if not found_late and new.status == "delivered":
        from chalicelib.workflows import surveys

        asked = surveys.ask(customer, surveys.asked_about("order", new))
        logger().info("survey", extra={"order_id": new.id, "outcome": asked})


def _delay_told_lately(order_id: str) -> bool:
    """A shipment of the order recorded a delay (which told the customer) within DELAY_NOTICE_QUIET_HOURS."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.domain.shipments import ShipmentStatus
    from chalicelib.persistence import orders

    order = orders.get(order_id, consistent=True)
    since = iso(utcnow() - timedelta(hours=DELAY_NOTICE_QUIET_HOURS))
    return order is not None and any(e.applied and e.status == ShipmentStatus.DELAYED and e.received_at >= since
                                     for s in order.shipments for e in s.events)


def late_deliveries(now: datetime) -> dict[str, int]:
    """Orders on their way whose promised date (local) is before today: each gets exactly one complaint
    (category shipment, severity high, `ref` the order's id), which starts the SLA escalation, and leaves the
    sparse index (`late_since`), so the next run reads only new late orders. Running it twice for a day opens
    nothing twice: the complaint's id is made from the order's (domain/orders.py `late_complaint_id`)."""
    from zoneinfo import ZoneInfo

    from chalicelib.config import settings
    from chalicelib.domain.errors import PreconditionFailed, StaleRead
    from chalicelib.domain.orders import late_complaint, mark_late
    from chalicelib.persistence import complaints, customers, orders

    today = now.astimezone(ZoneInfo(settings().timezone)).date().isoformat()
    found = opened = marked = 0
    for order in orders.late(before=today):
        found += 1
        branch: str | None = order.branch_id  # the customer's, unless they moved since: read only then
        for _ in range(LATE_ATTEMPTS):
            case = late_complaint(order, branch, today=today, now=now) if branch else None
            if case is not None:
                try:
                    complaints.create(case)
                    opened += 1
                except StaleRead:  # a twin run opened it, or the customer moved or went meanwhile
                    if complaints.get(case.id, consistent=True) is None:
                        customer = customers.get(order.customer_id, consistent=True)
                        branch = customer.branch_id if customer else None
                        continue
            try:
                orders.update(order, mark_late(order, today=today, now=now,
                                               complaint_id=case.id if case else None))
                marked += 1
            except PreconditionFailed:  # changed meanwhile: read it again, it may no longer be late
                fresh = orders.get(order.id, consistent=True)
                if fresh is None or not fresh.awaits_delivery or (fresh.promised_date or "") >= today:
                    break
                order = fresh
                continue
            break
    return {"late_found": found, "complaints_opened": opened, "orders_marked": marked}


def on_schedule(event_time: str) -> dict[str, Any]:
    from chalicelib.domain.clock import parse_iso
    from chalicelib.observability import count, flush
    from chalicelib.workflows.service import late_work_orders

    fired_at = parse_iso(event_time)
    report: dict[str, int] = {**late_deliveries(fired_at), **late_work_orders(fired_at)}
    logger().info("late deliveries", extra=report)  # counts only
    count("LateDeliveriesFound", report["late_found"])
    count("LateDeliveryComplaintsOpened", report["complaints_opened"])
    count("LateWorkOrderComplaintsOpened", report["work_order_complaints_opened"])
    flush()
    return report
