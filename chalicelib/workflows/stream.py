"""The DynamoDB stream consumer: what happens when items change.

Powertools batch processing reports failures per record, so a failing record
is retried alone (and lands in the dead-letter queue after the event source
mapping's retries) while the rest of the batch goes on. Every side effect is
idempotent: the escalation execution is named after the complaint, and each
customer message is claimed once per key (chalicelib.workflows.notify). Every
record also moves the real-time aggregates (chalicelib/domain/aggregates.py),
exactly once per record (chalicelib/persistence/aggregates.py).
"""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger, metrics


def _complaint_changed(event_name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    from chalicelib.domain.clock import utcnow
    from chalicelib.domain.delivery import Purpose
    from chalicelib.domain.messages import reference, render
    from chalicelib.persistence import customers
    from chalicelib.workflows import escalation
    from chalicelib.workflows.notify import notify

    if new is None:  # erased with its customer: its escalation has nobody to escalate
        if old is not None and escalation.stop(str(old["id"]), error="ComplaintErased",
                                               cause="The complaint was erased with its customer."):
            logger().info("escalation stopped", extra={"complaint_id": old["id"], "reason": "complaint erased"})
        return
    became_resolved = new.get("status") == "resolved" and (old or {}).get("status") != "resolved"
    if event_name == "INSERT":
        escalation.start(new, utcnow())
        kind, key = "complaint_received", f"complaint-received#{new['id']}"
    elif became_resolved:
        escalation.stop(str(new["id"]))
        kind, key = "complaint_resolved", f"complaint-resolved#{new['id']}#{new.get('resolved_at')}"
    else:
        return
    customer = customers.get(str(new["customer_id"]))
    if customer is None:  # erased meanwhile: nobody to tell
        return
    message = render(kind, customer.language, ref=reference(str(new["id"])), department=str(new["department"]))
    outcome = notify(customer, message, key=key, purpose=Purpose.TRANSACTIONAL, kind="complaint_followup",
                     ref=str(new["id"]))
    logger().info("complaint message", extra={"complaint_id": new["id"], "message_kind": kind, "outcome": outcome})


def _count(record: Any, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    """The real-time aggregates (chalicelib/domain/aggregates.py), exactly once per record."""
    from chalicelib.domain.aggregates import delta
    from chalicelib.observability import count
    from chalicelib.persistence import aggregates

    changes = delta(old, new)
    if not changes:
        return
    event_id = record.event_id or f"seq-{record.dynamodb.sequence_number}"
    outcome = aggregates.apply_once(str(event_id), changes)
    count("AggregatesDuplicate" if outcome == "duplicate" else "AggregatesApplied")


def _record(record: Any) -> None:
    new = record.dynamodb.new_image or None
    old = record.dynamodb.old_image or None
    try:
        _react(record, old, new)
    finally:
        # Counted whatever happened above, so a record that keeps failing there (and
        # ends in the dead-letter queue) is still counted; an analytics failure fails
        # the record, which is retried (counted at most once: its marker).
        _count(record, old, new)


def _react(record: Any, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    kind = (new or old or {}).get("type")
    if kind == "complaint":
        _complaint_changed(record.event_name.name if hasattr(record.event_name, "name") else str(record.event_name),
                           old, new)
    elif kind == "customer":  # due items keep a copy of the contact data (chalicelib/workflows/reminders.py)
        from chalicelib.workflows import reminders

        reminders.customer_changed(old, new)
        if old is not None and new is not None and old.get("branch_id") != new.get("branch_id"):
            _complaints_follow(str(new["id"]))


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


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    try:
        return dict(process_partial_response(event=event, record_handler=_record, processor=processor, context=context))
    finally:
        metrics().flush_metrics()
