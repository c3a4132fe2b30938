"""Exactly-once bookkeeping of customer messages.

Each message decision (sent or skipped) is claimed once per key, in one
transaction with the outbound interaction that shows it on the timeline and a
check that the customer is still live (an erased customer gets nothing, and
nothing of theirs is written again). Claims live in the customer's partition
(sk `Z#<key>`), so the erasure takes them too. The opt-out list is the CRM's
own: SNS's opt-out API is not relied on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import NotFound
from chalicelib.domain.interactions import Interaction
from chalicelib.persistence.errors import translated
from chalicelib.persistence.interactions import to_item as interaction_item
from chalicelib.persistence.tables import (
    MESSAGE_CLAIM_PREFIX,
    PROFILE_SK,
    CustomerItem,
    InteractionItem,
    MessageClaimItem,
    customer_pk,
    message_claim_sk,
)
from chalicelib.persistence.tx import connection, live_customer


def claim(key: str, record: Interaction) -> bool:
    """Record the decision for `key` with its timeline entry; False if it was already taken.
    Raises NotFound if the customer is erased (or being erased)."""
    return claim_entry(key, record)[0]


EntryKey = dict[str, str]  # {"pk", "sk"}: a timeline entry, as the reminders state machine reads and updates it


def _entry_key(customer_id: str, sk: str) -> EntryKey:
    return {"pk": customer_pk(customer_id), "sk": sk}


def claim_entry(key: str, record: Interaction, *, send: Mapping[str, str] | None = None) -> tuple[bool, EntryKey | None]:
    """claim(), telling which timeline entry holds the decision for `key`.

    Returns (True, key of the entry just written) or, when `key` was
    claimed before, (False, key of the entry that claim wrote), read from
    the failed condition's old item at no extra request; raises NotFound when
    the customer is no live customer (erased, or being erased). `send` adds the
    attributes a message that still has to go out is sent with (the reminders
    state machine reads and then removes them: address, subject, sms_type).
    """
    item = interaction_item(record)
    for name, value in (send or {}).items():
        setattr(item, name, value)
    owner = customer_pk(record.customer_id)
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, owner, PROFILE_SK, condition=live_customer())
            tx.save(
                MessageClaimItem(pk=owner, sk=message_claim_sk(key), customer_id=record.customer_id,
                                 interaction_sk=item.sk),
                condition=MessageClaimItem.pk.does_not_exist(),
                return_values="ALL_OLD",
            )
            tx.save(item, condition=InteractionItem.pk.does_not_exist())
    except TransactWriteError as exc:
        for reason in exc.cancellation_reasons:
            old = (reason.raw_item or {}) if reason is not None and reason.code == "ConditionalCheckFailed" else {}
            if old.get("type", {}).get("S") == "message_claim":
                earlier = old.get("interaction_sk", {}).get("S")
                return False, _entry_key(record.customer_id, earlier) if earlier else None
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons):
            raise NotFound("No such record.") from exc  # the profile's check: the customer is gone
        raise
    return True, _entry_key(record.customer_id, str(item.sk))


def release(key: str, record: Interaction) -> None:
    """Undo a claim whose message could not be sent, so a retry can send it."""
    item = interaction_item(record)
    with translated(), TransactWrite(connection=connection()) as tx:
        tx.delete(MessageClaimItem(pk=customer_pk(record.customer_id), sk=message_claim_sk(key)))
        tx.delete(item)


def claimed_entries(keys: Iterable[tuple[str, str]]) -> tuple[dict[str, EntryKey], int]:
    """Of `keys` ((customer id, key) pairs), the keys claimed already -> their timeline entry's key;
    and the BatchGetItem requests.

    A re-run looks before it claims: claiming a taken key costs a cancelled
    transaction (and, in moto, a rollback that replaces the whole table).
    """
    wanted = sorted(set(keys))
    found: dict[str, EntryKey] = {}
    requests = 0
    for start in range(0, len(wanted), 100):
        requests += 1
        batch = [(customer_pk(customer_id), message_claim_sk(key)) for customer_id, key in wanted[start:start + 100]]
        with translated():
            for item in MessageClaimItem.batch_get(batch):
                found[item.sk[len(MESSAGE_CLAIM_PREFIX):]] = _entry_key(item.customer_id, item.interaction_sk)
    return found, requests


def withdraw_pending(customer_id: str, key: str, reason: str) -> bool:
    """The timeline entry claimed under `key`: pending -> skipped (with `reason`), only while still pending (the
    reminders state machine takes it pending -> sending the same way). False when no such claim or not pending."""
    from pynamodb.exceptions import UpdateError

    owner = customer_pk(customer_id)
    with translated():
        try:
            claim_item = MessageClaimItem.get(owner, message_claim_sk(key), consistent_read=True)
        except MessageClaimItem.DoesNotExist:
            return False
    try:
        with translated():
            InteractionItem(pk=owner, sk=claim_item.interaction_sk).update(
                actions=[InteractionItem.delivery.set("skipped"), InteractionItem.reason.set(reason),
                         InteractionItem.address.remove(), InteractionItem.subject.remove(),
                         InteractionItem.sms_type.remove()],
                condition=InteractionItem.delivery == "pending")
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
