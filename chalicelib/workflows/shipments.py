"""What the stream consumer does with a shipment's change (chalicelib/workflows/stream.py routes it here): the
customer hears that it left (carrier and tracking link), that it is out for delivery, and that it is delayed
(the new date), once each, when the order asks for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain.shipments import CARRIERS, Shipment, ShipmentStatus
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.domain.messages import Message
    from chalicelib.persistence.changes import Change

SMS_MAX_CHARS = 160
TRACK = {"id": " Lacak: {url}", "en": " Track: {url}"}


def fitted(kind: str, lang: str, **fields: str) -> Message:
    """The message within one SMS: without the expected date, then without the link, if it must."""
    from chalicelib.domain.messages import render

    message = render(kind, lang, **fields)
    for drop in ("expected", "track"):
        if len(message.text) <= SMS_MAX_CHARS or drop not in fields:
            break
        fields = {**fields, drop: ""}
        message = render(kind, lang, **fields)
    return message


def short_date(day: str, lang: str) -> str:
    from chalicelib.domain.orders import MONTHS

    year, month, date = (int(part) for part in day.split("-"))
    return f"{date} {MONTHS[lang if lang in MONTHS else 'id'][month - 1][:3]} {year}"


def shipment_changed(change: Change, old: Shipment | None, new: Shipment | None) -> None:
    from chalicelib.domain.consent import Purpose
    from chalicelib.persistence import customers
    from chalicelib.workflows.messages import notify

    if new is None or not new.notify_customer:
        return
    if change.inserted:
        if new.status != ShipmentStatus.LABEL_CREATED or new.last_event_at is not None:
            return  # loaded in bulk with its events (demo data, an import): nobody is told

        kind, key = "order_shipped", f"order-shipped#{new.id}"
    elif old is None or new.version != old.version + 1 or new.status == old.status:
        return
    elif new.status == ShipmentStatus.OUT_FOR_DELIVERY:
        kind, key = "order_out_for_delivery", f"order-out-for-delivery#{new.id}"
    elif new.status == ShipmentStatus.DELAYED and new.expected_delivery_date:
        kind, key = "order_delayed", f"order-delayed#{new.id}#{new.expected_delivery_date}"
    else:
        return
    customer = customers.get(new.customer_id)
    if customer is None:  # erased: nobody to tell
        return
    lang = customer.language
    url = new.tracking_url
    carrier = CARRIERS[new.carrier].name if new.carrier in CARRIERS else new.carrier
    fields = {"order_no": new.order_no, "carrier": carrier,
              "track": TRACK.get(lang, TRACK["id"]).format(url=url) if url else ""}
    if kind == "order_shipped":
        word = {"en": "expected on"}.get(lang, "perkiraan tiba")
        fields["expected"] = (f", {word} {short_date(new.expected_delivery_date, lang)}"
                              if new.expected_delivery_date else "")
    if kind == "order_delayed":
        fields["date"] = short_date(new.expected_delivery_date or "", lang)
    message = fitted(kind, lang, **fields)
    outcome = notify(customer, message, key=key, purpose=Purpose.TRANSACTIONAL, kind="order_update",
                     ref=new.order_id, waking_hours=True)
    logger().info("shipment message", extra={"shipment_id": new.id, "message_kind": kind, "outcome": outcome})
