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
exactly once per record (chalicelib/persistence/aggregates.py). Before all that, each
batch's new facts go into the change log the nightly export reads
(chalicelib/persistence/change_log.py), and its new contacts into their customers'
engagement items (chalicelib/persistence/engagement.py), which the export's analyses read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.domain.appointments import Appointment
from chalicelib.domain.complaints import UNRESOLVED, Complaint
from chalicelib.domain.customers import Customer
from chalicelib.domain.orders import Order
from chalicelib.domain.shipments import Shipment
from chalicelib.domain.surveys import FOLLOW_UP_BY, Survey
from chalicelib.domain.vehicles import Vehicle
from chalicelib.domain.work_orders import WorkOrder
from chalicelib.observability import flush, logger

if TYPE_CHECKING:
    from chalicelib.persistence.changes import Change
    from chalicelib.persistence.dead_letters import DeadLetter


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
    if change.inserted and new.status not in UNRESOLVED:
        return  # history loaded in bulk (demo data, an import): nothing to escalate or announce; counted all the same
    if change.inserted:
        escalation.start(new, utcnow())
        if new.created_by.startswith("system:"):  # the CRM opened it (a late order): the customer hears of that
            return
        kind, key = "complaint_received", f"complaint-received#{new.id}"
    elif old is not None and new.reopens > old.reopens:  # reopened: escalation starts over from the reopen
        escalation.start(new, utcnow())
        return
    elif old is not None and new.escalation_level > old.escalation_level:  # the workflow escalated it
        from chalicelib.persistence import complaints

        if complaints.record_escalation(old.escalation_level, new):
            logger().info("complaint escalated", extra={"complaint_id": new.id, "level": new.escalation_level,
                                                        "department": new.department})
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
    if became_resolved and new.created_by != FOLLOW_UP_BY:  # a survey's own follow-up asks no survey again
        from chalicelib.workflows import surveys

        asked = surveys.ask(customer, surveys.asked_about("complaint", new))
        logger().info("survey", extra={"complaint_id": new.id, "outcome": asked})


def _customer_changed(old: Customer | None, new: Customer | None) -> None:
    from chalicelib.domain.vehicles import OwnerCopy
    from chalicelib.workflows import reminders

    reminders.customer_changed(old, new)  # due items keep a copy of the contact data
    if old is not None and new is not None and OwnerCopy.of(old) != OwnerCopy.of(new):
        from chalicelib.persistence import vehicles

        vehicles.refresh_owner(new.id, OwnerCopy.of(new))  # so do their vehicles, for the desk's lookup
    if old is not None and new is not None and old.branch_id != new.branch_id:
        _complaints_follow(new.id)


def _complaints_follow(customer_id: str) -> None:
    """A customer moved branch: their complaints and vehicles go along (most moved in the same transaction; this
    catches one opened during the move, or beyond what one transaction holds). To where the customer
    is now, so an old record delivered late moves nothing back."""
    from chalicelib.domain.clock import iso, utcnow
    from chalicelib.persistence import complaints, customers, vehicles

    branch = customers.branch_of(customer_id)
    if branch is None:
        return  # erased meanwhile
    moved = complaints.move(complaints.ids_of_customer(customer_id), branch, iso(utcnow()))
    if moved:
        logger().info("complaints followed their customer", extra={"moved": moved})
    if vehicles.follow_owner(customer_id, branch):
        logger().info("vehicles followed their owner")


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
    elif isinstance(new or old, Order):
        from chalicelib.workflows import orders

        orders.order_changed(change, old if isinstance(old, Order) else None, new if isinstance(new, Order) else None)
    elif isinstance(new or old, Shipment):
        from chalicelib.workflows import shipments

        shipments.shipment_changed(change, old if isinstance(old, Shipment) else None,
                                   new if isinstance(new, Shipment) else None)
    elif isinstance(new or old, Appointment | WorkOrder | Vehicle):
        from chalicelib.workflows import service

        service.changed(change)
    elif isinstance(new or old, Survey):
        from chalicelib.workflows import surveys

        surveys.survey_changed(old if isinstance(old, Survey) else None, new if isinstance(new, Survey) else None)


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

    from chalicelib.persistence import change_log, engagement

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    try:
        # the nightly export's change log and engagement items first (idempotent): a failure here retries the
        # whole batch, whose every side effect below is exactly once
        records = event.get("Records") or []
        change_log.record(records)
        engagement.record(records)
        return dict(process_partial_response(event=event, record_handler=_record, processor=processor, context=context))
    finally:
        flush()


# --------------------------------------------------------------------------
# Re-processing what the event source mapping gave up on (the `stream-redrive` operator function)
# --------------------------------------------------------------------------

REDRIVE_VISIBILITY_SECONDS = 15 * 60  # a message being re-processed stays hidden this long (the function's limit)
REDRIVE_STOP_BEFORE_END_MS = 60_000  # a run stops taking messages when less than this is left of its time


def redrive(event: Any, context: Any) -> dict[str, Any]:
    """Hand every record waiting in the dead-letter queue to the consumer again; delete the messages it handled.

    Each message names stream records; they are read back from the stream
    (it keeps them 24 hours) and handled by `handle`, as the mapping would.
    Every side effect is exactly once (counters by record marker, messages by
    claim, escalations by name), so a record handled before it was
    dead-lettered, or redriven twice, changes nothing more. A message whose
    records still fail stays in the queue; so does one that is not Lambda's
    on-failure record, and one whose records the stream no longer holds,
    unless the event says {"discard_expired": true} (what they changed in the
    table is counted by the next counters reconciliation; what they would have
    sent or started is lost: docs/operations.md). What stays is visible again
    when the run ends.
    """
    from chalicelib.persistence import dead_letters

    discard_expired = isinstance(event, dict) and event.get("discard_expired") is True
    report = {"redriven": 0, "still_failing": 0, "expired": 0, "discarded": 0, "unreadable": 0, "records": 0}
    left: list[dead_letters.DeadLetter] = []  # hidden while this run goes on, so that it reads each once
    try:
        while context is None or context.get_remaining_time_in_millis() > REDRIVE_STOP_BEFORE_END_MS:
            letters = dead_letters.receive(REDRIVE_VISIBILITY_SECONDS)
            if not letters:
                break
            for letter in letters:
                outcome, records = _redrive_one(letter, discard_expired, context)
                report[outcome] += 1
                report["records"] += records
                if outcome in ("still_failing", "expired", "unreadable"):
                    left.append(letter)
    finally:
        for letter in left:
            dead_letters.release(letter)
    logger().info("stream redrive", extra=report)
    return {"status": "done" if not (report["still_failing"] or report["expired"] or report["unreadable"])
            else "incomplete", **report}


def _redrive_one(letter: DeadLetter, discard_expired: bool, context: Any) -> tuple[str, int]:
    """(what became of one dead letter, records handled)."""
    from chalicelib.persistence import dead_letters, stream_records

    batch = letter.batch or {}
    where: list[Any] = [batch.get(k) for k in ("streamArn", "shardId", "startSequenceNumber", "endSequenceNumber")]
    if not all(isinstance(w, str) and w for w in where):
        return "unreadable", 0  # not Lambda's on-failure record: for a person to read
    try:
        records = stream_records.read(*where)
    except stream_records.Expired:
        if not discard_expired:
            return "expired", 0
        dead_letters.delete(letter)
        return "discarded", 0
    if handle({"Records": records}, context).get("batchItemFailures"):
        return "still_failing", 0
    dead_letters.delete(letter)
    return "redriven", len(records)
