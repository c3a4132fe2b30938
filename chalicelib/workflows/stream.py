"""The DynamoDB stream consumer: what happens when items change.

Each record is decoded once into a domain change (chalicelib/persistence/
changes.py: the Customer, Interaction or Complaint before and after), which
the workflows below and the real-time aggregates consume; nothing here knows
how items are stored.

Powertools batch processing reports failures per record, so a failing record
is retried alone (and lands in the dead-letter queue after the event source
mapping's retries) while the rest of the batch goes on. Every side effect is
idempotent: the escalation execution is named after the complaint, and each
customer message is claimed once per key (chalicelib.workflows.messages). Every
record also moves the real-time aggregates (chalicelib/domain/aggregates.py),
exactly once per record (chalicelib/persistence/aggregates.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.domain.complaints import Complaint
from chalicelib.domain.customers import Customer
from chalicelib.observability import logger, metrics

if TYPE_CHECKING:
    from chalicelib.persistence.changes import Change


def _complaint_changed(change: Change, old: Complaint | None, new: Complaint | None) -> None:
    from chalicelib.domain.clock import utcnow
    from chalicelib.domain.consent import Purpose
    from chalicelib.domain.messages import reference, render
    from chalicelib.persistence import customers
    from chalicelib.workflows import escalation
    from chalicelib.workflows.messages import notify

    if new is None:  # erased with its customer: its escalation has nobody to escalate
        if old is not None and escalation.stop(old, error="ComplaintErased",
                                               cause="The complaint was erased with its customer."):
            logger().info("escalation stopped", extra={"complaint_id": old.id, "reason": "complaint erased"})
        return
    became_resolved = new.status == "resolved" and (old is None or old.status != "resolved")
    if change.inserted:
        escalation.start(new, utcnow())
        kind, key = "complaint_received", f"complaint-received#{new.id}"
    elif old is not None and new.reopens > old.reopens:  # reopened: escalation starts over from the reopen
        escalation.start(new, utcnow())
        return
    elif became_resolved:
        escalation.stop(new)
        kind, key = "complaint_resolved", f"complaint-resolved#{new.id}#{new.resolved_at}"
    else:
        return
    customer = customers.get(new.customer_id)
    if customer is None:  # erased meanwhile: nobody to tell
        return
    message = render(kind, customer.language, ref=reference(new.id), department=new.department)
    outcome = notify(customer, message, key=key, purpose=Purpose.TRANSACTIONAL, kind="complaint_followup",
                     ref=new.id)
    logger().info("complaint message", extra={"complaint_id": new.id, "message_kind": kind, "outcome": outcome})


def _customer_changed(old: Customer | None, new: Customer | None) -> None:
    from chalicelib.workflows import reminders

    reminders.customer_changed(old, new)  # due items keep a copy of the contact data
    if old is not None and new is not None and old.branch_id != new.branch_id:
        _complaints_follow(new.id)


def _complaints_follow(customer_id: str) -> None:
    """A customer moved branch: their complaints go along (most moved in the same transaction; this
    catches one opened during the move, or beyond what one transaction holds). To where the customer
    is now, so an old record delivered late moves nothing back."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.persistence import complaints, customers

    branch = customers.branch_of(customer_id)
    if branch is None:
        return  # erased meanwhile
    moved = complaints.move(complaints.ids_of_customer(customer_id), branch, iso(utcnow()))
    if moved:
        logger().info("complaints followed their customer", extra={"moved": moved})


def _count(change: Change) -> None:
    """The real-time aggregates (chalicelib/domain/aggregates.py), exactly once per record."""
    from chalicelib.domain.aggregates import delta
    from chalicelib.observability import count
    from chalicelib.persistence import aggregates

    changes = delta(change.old, change.new)
    if not changes:
        return
    outcome = aggregates.apply_once(change.event_id, changes)
    count("AggregatesDuplicate" if outcome == "duplicate" else "AggregatesApplied")


def _react(change: Change) -> None:
    old, new = change.old, change.new
    if isinstance(new or old, Complaint):
        _complaint_changed(change, old if isinstance(old, Complaint) else None,
                           new if isinstance(new, Complaint) else None)
    elif isinstance(new or old, Customer):
        _customer_changed(old if isinstance(old, Customer) else None, new if isinstance(new, Customer) else None)


def _record(record: Any) -> None:
    from chalicelib.persistence.changes import decode

    change = decode(record.raw_event)
    try:
        _react(change)
    finally:
        # Counted whatever happened above, so a record that keeps failing there (and
        # ends in the dead-letter queue) is still counted; an analytics failure fails
        # the record, which is retried (counted at most once: its marker).
        _count(change)


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    try:
        return dict(process_partial_response(event=event, record_handler=_record, processor=processor, context=context))
    finally:
        metrics().flush_metrics()
