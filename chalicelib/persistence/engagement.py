"""Each customer's engagement item (chalicelib/domain/engagement.py) in the CRM table:

    engagement  pk=C#<customer_id>  sk=V#ENG  (contacts, messages: string sets; older_last)

In the customer's partition, so an erasure takes it with everything else; a contact is added in one transaction
with the check that the customer is live, so nothing lands once an erasure has begun.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.config import (
    AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS,
    AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS,
    AGGREGATES_CONFLICT_RETRIES,
)
from chalicelib.domain.engagement import (
    Kept,
    Pruned,
    campaign_message,
    contact_from,
    element,
    message_element,
    message_from,
)
from chalicelib.observability import count, logger
from chalicelib.persistence.errors import translated
from chalicelib.persistence.raw import plain_item
from chalicelib.persistence.tables import PROFILE_SK, CustomerItem, EngagementItem, customer_pk
from chalicelib.persistence.tx import connection, failed_codes, live_customer

ENGAGEMENT_SK = "V#ENG"


def customer_of(pk: str) -> str | None:
    """The customer whose partition `pk` is, or None for any other partition."""
    prefix = customer_pk("")
    return pk.removeprefix(prefix) if pk.startswith(prefix) else None


def add(customer_id: str, contacts: Iterable[str], older_last: str | None = None, messages: Iterable[str] = ()) -> bool:
    """Add contacts and messages (elements) to the customer's sets, and raise `older_last` to the given one if it is
    newer. The same call again changes nothing. False when the customer is erased or being erased (nothing written).

    A transaction that meets another on the profile (TransactionConflict) is tried again after a jittered wait,
    as the counters' are. An item that would pass DynamoDB's 400 KB (about 5,000 contacts in ENGAGEMENT_DAYS: a
    customer the analyses score at the top anyway) takes no more until the nightly prune makes room: counted
    (EngagementItemFull) and logged, never failing the stream's batch."""
    elements, sent = set(contacts), set(messages)
    if not elements and not sent and older_last is None:
        return True
    owner = customer_pk(customer_id)
    actions = [*([EngagementItem.contacts.add(elements)] if elements else []),
               *([EngagementItem.messages.add(sent)] if sent else [])]
    raise_older = older_last is not None
    for attempt in range(AGGREGATES_CONFLICT_RETRIES + 1):
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.condition_check(CustomerItem, owner, PROFILE_SK, condition=live_customer())
                if raise_older and older_last is not None:
                    tx.update(EngagementItem(owner, ENGAGEMENT_SK), actions=[
                        *actions, EngagementItem.type.set(EngagementItem), EngagementItem.older_last.set(older_last)],
                        condition=EngagementItem.older_last.does_not_exist() | (EngagementItem.older_last < older_last))
                else:
                    tx.update(EngagementItem(owner, ENGAGEMENT_SK),
                              actions=[*actions, EngagementItem.type.set(EngagementItem)])
        except TransactWriteError as exc:
            codes = failed_codes(exc)
            if codes and codes[0] == "ConditionalCheckFailed":
                return False
            if raise_older and len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
                raise_older = False  # a newer one is kept already: the contacts alone
                if not actions:
                    return True
                continue
            if "ValidationError" in codes or exc.cause_response_code == "ValidationException":
                count("EngagementItemFull")
                logger().warning("engagement item full: contacts not added",
                                 extra={"contacts": len(elements), "messages": len(sent)})
                return True
            if "TransactionConflict" in codes and attempt < AGGREGATES_CONFLICT_RETRIES:
                time.sleep(random.uniform(0, min(AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS,
                                                 AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS * 2 ** attempt)))
                continue
            raise
        return True
    raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass
class Changes:
    """What stream records bring to one customer's item, as elements."""

    contacts: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)
    unsent: set[str] = field(default_factory=set)  # messages whose notification was deleted: released, not sent


def changes_in(records: Iterable[Mapping[str, Any]]) -> dict[str, Changes]:
    """What these stream records bring to the engagement items, per customer id: each contact inserted (an
    interaction that is no message of the CRM's), each notification that became sent, each campaign message
    sent (its channel is the campaign's: one GetItem per campaign); and each sent notification deleted (a claim
    released when the send failed: the retry is another message)."""
    found: dict[str, Changes] = defaultdict(Changes)
    to_campaigns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        change = record.get("dynamodb") or {}
        new, old = plain_item(change.get("NewImage") or {}), plain_item(change.get("OldImage") or {})
        if record.get("eventName") == "REMOVE" and old.get("type") == "interaction":
            customer_id, message = customer_of(str(old.get("pk", ""))), message_from(old)
            if customer_id is not None and message is not None:
                found[customer_id].unsent.add(message_element(message))
                found[customer_id].messages.discard(message_element(message))
            continue
        customer_id = customer_of(str(new.get("pk", "")))
        if new.get("type") == "interaction" and customer_id is not None:
            contact = contact_from(new) if record.get("eventName") == "INSERT" else None
            if contact is not None:
                found[customer_id].contacts.add(element(contact))
            message = message_from(new)
            if message is not None and message_from(old) is None:
                found[customer_id].messages.add(message_element(message))
                found[customer_id].unsent.discard(message_element(message))
        elif new.get("type") == "campaign_recipient" and new.get("sent_at") and not old.get("sent_at"):
            to_campaigns[str(new["campaign_id"])].append(new)
    for campaign_id, recipients in sorted(to_campaigns.items()):
        channel = _channel_of(campaign_id)
        for recipient in recipients:
            message = campaign_message(recipient, channel) if channel else None
            if message is not None:
                found[str(recipient["customer_id"])].messages.add(message_element(message))
    return dict(found)


def _channel_of(campaign_id: str) -> str | None:
    from chalicelib.persistence import campaigns

    campaign = campaigns.get(campaign_id)
    return campaign.channel if campaign is not None else None


def record(records: Iterable[Mapping[str, Any]]) -> int:
    """Add what these stream records bring to their customers' items: one transaction per customer. Idempotent; a
    customer erased meanwhile gets nothing. Returns how many customers had some."""
    found = changes_in(records)
    for customer_id, changes in sorted(found.items()):
        add(customer_id, changes.contacts, messages=changes.messages)
        if changes.unsent:
            prune(customer_id, Pruned(frozenset(), None, frozenset(changes.unsent)))
    return len(found)


def kept_of(item: Mapping[str, Any] | None) -> Kept:
    """A customer's engagement item as read by a Scan (plain values), or nothing kept (None: the customer has had no
    contact since the items began)."""
    if item is None:
        return Kept()
    return Kept(frozenset(item.get("contacts") or ()), item.get("older_last"), frozenset(item.get("messages") or ()))


def kept_among(customer_ids: Iterable[str]) -> dict[str, Kept]:
    """These customers' engagement items (a customer without one is left out): a BatchGetItem per 100."""
    wanted = sorted(set(customer_ids))
    found: dict[str, Kept] = {}
    for start in range(0, len(wanted), 100):
        with translated():
            for item in EngagementItem.batch_get([(customer_pk(c), ENGAGEMENT_SK) for c in wanted[start:start + 100]]):
                found[item.pk.removeprefix(customer_pk(""))] = Kept(
                    frozenset(item.contacts or ()), item.older_last, frozenset(item.messages or ()))
    return found


def prune(customer_id: str, old: Pruned) -> bool:
    """Take what left the window out of the customer's sets and keep `older_last` (the newest contact that left, or
    what was kept before). Only while the item exists (an erased customer's is not made again) and keeps no newer
    `older_last` (the backfill raised it meanwhile); False if not: the next night prunes again. The stream
    consumer takes a released message out the same way."""
    if not old.contacts and not old.messages:
        return True
    actions: list[Any] = []
    if old.contacts:
        actions.append(EngagementItem.contacts.delete(set(old.contacts)))
    if old.messages:
        actions.append(EngagementItem.messages.delete(set(old.messages)))
    condition = EngagementItem.pk.exists()
    if old.older_last is not None:
        actions.append(EngagementItem.older_last.set(old.older_last))
        condition &= EngagementItem.older_last.does_not_exist() | (EngagementItem.older_last <= old.older_last)
    try:
        with translated():
            EngagementItem(customer_pk(customer_id), ENGAGEMENT_SK).update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
