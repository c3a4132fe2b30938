"""What the stream consumer does with an order's change (chalicelib/workflows/stream.py routes it here)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain.orders import Order
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.persistence.changes import Change

ORDER_MESSAGES = ("confirmed", "shipped", "delivered")  # the statuses a customer hears of


def order_changed(change: Change, old: Order | None, new: Order | None) -> None:
    """The customer hears, once per order and status (the claim's key), that their order is confirmed, shipped or
    delivered, when the order asks for it. An order that arrives in a later status (history loaded in bulk)
    tells nobody."""
    from chalicelib.domain.consent import Purpose
    from chalicelib.domain.messages import render
    from chalicelib.domain.orders import expected_phrase
    from chalicelib.persistence import customers
    from chalicelib.workflows.messages import notify

    if change.inserted or new is None or old is None or not new.notify_customer:
        return
    if new.version != old.version + 1:  # not one change by the API (a bulk rewrite of history): nobody is told
        return
    if new.status == old.status or new.status not in ORDER_MESSAGES:
        return
    customer = customers.get(new.customer_id)
    if customer is None:  # erased: nobody to tell
        return
    lang = customer.language
    expected = expected_phrase(new, lang, short_month=True).replace(";", ",")
    message = render(f"order_{new.status}", lang, order_no=new.order_no, expected=expected)
    outcome = notify(customer, message, key=f"order-{new.status}#{new.id}", purpose=Purpose.TRANSACTIONAL,
                     kind="order_update", ref=new.id)
    logger().info("order message", extra={"order_id": new.id, "message_kind": message.kind, "outcome": outcome})


