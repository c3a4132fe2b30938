"""Each customer's engagement item (chalicelib/domain/engagement.py) in the CRM table:

    engagement  pk=C#<customer_id>  sk=V#ENG  (contacts: a string set; older_last)

In the customer's partition, so an erasure takes it with everything else; a contact is added in one transaction
with the check that the customer is live, so nothing lands once an erasure has begun.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.config import (
    AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS,
    AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS,
    AGGREGATES_CONFLICT_RETRIES,
)
from chalicelib.domain.engagement import Contact, Kept, element
from chalicelib.observability import count, logger
from chalicelib.persistence.errors import translated
from chalicelib.persistence.tables import PROFILE_SK, CustomerItem, EngagementItem, customer_pk
from chalicelib.persistence.tx import connection, failed_codes, live_customer

ENGAGEMENT_SK = "V#ENG"


def customer_of(pk: str) -> str | None:
    """The customer whose partition `pk` is, or None for any other partition."""
    prefix = customer_pk("")
    return pk.removeprefix(prefix) if pk.startswith(prefix) else None


def add(customer_id: str, contacts: Iterable[str], older_last: str | None = None) -> bool:
    """Add contacts (elements) to the customer's set, and raise `older_last` to the given one if it is newer. The
    same call again changes nothing. False when the customer is erased or being erased (nothing written).

    A transaction that meets another on the profile (TransactionConflict) is tried again after a jittered wait,
    as the counters' are. An item that would pass DynamoDB's 400 KB (about 5,000 contacts in ENGAGEMENT_DAYS: a
    customer the analyses score at the top anyway) takes no more until the nightly prune makes room: counted
    (EngagementItemFull) and logged, never failing the stream's batch."""
    elements = set(contacts)
    if not elements and older_last is None:
        return True
    owner = customer_pk(customer_id)
    actions = [EngagementItem.contacts.add(elements)] if elements else []
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
                logger().warning("engagement item full: contacts not added", extra={"contacts": len(elements)})
                return True
            if "TransactionConflict" in codes and attempt < AGGREGATES_CONFLICT_RETRIES:
                time.sleep(random.uniform(0, min(AGGREGATES_CONFLICT_BACKOFF_MAX_SECONDS,
                                                 AGGREGATES_CONFLICT_BACKOFF_BASE_SECONDS * 2 ** attempt)))
                continue
            raise
        return True
    raise AssertionError("unreachable: the last attempt returns or raises")


def contacts_in(records: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """The new contacts among these stream records (an interaction item inserted that is no message of the CRM's),
    as elements per customer id."""
    found: dict[str, set[str]] = defaultdict(set)
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        image = (record.get("dynamodb") or {}).get("NewImage") or {}
        if image.get("type", {}).get("S") != "interaction" or "S" in image.get("delivery", {}):
            continue
        customer_id = customer_of(str(image["pk"]["S"]))
        if customer_id is not None:
            found[customer_id].add(element(Contact(
                str(image["occurred_at"]["S"]), str(image.get("branch_id", {}).get("S") or ""),
                str(image["channel"]["S"]), str(image["id"]["S"]))))
    return found


def record(records: Iterable[Mapping[str, Any]]) -> int:
    """Add the new contacts among these stream records to their customers' sets: one transaction per customer.
    Idempotent; a customer erased meanwhile gets nothing. Returns how many customers had some."""
    found = contacts_in(records)
    for customer_id, elements in sorted(found.items()):
        add(customer_id, elements)
    return len(found)


def kept_of(item: Mapping[str, Any] | None) -> Kept:
    """A customer's engagement item as read by a Scan (plain values), or nothing kept (None: the customer has had no
    contact since the items began)."""
    if item is None:
        return Kept()
    return Kept(frozenset(item.get("contacts") or ()), item.get("older_last"))


def prune(customer_id: str, old: frozenset[str], older_last: str | None) -> bool:
    """Take `old` out of the customer's set and keep `older_last` (the newest of what left, or what was kept
    before). Only while the item exists (an erased customer's is not made again) and keeps no newer `older_last`
    (the backfill raised it meanwhile); False if not: the next night prunes again."""
    if not old or older_last is None:
        return True
    try:
        with translated():
            EngagementItem(customer_pk(customer_id), ENGAGEMENT_SK).update(
                actions=[EngagementItem.contacts.delete(set(old)), EngagementItem.older_last.set(older_last)],
                condition=EngagementItem.pk.exists() & (EngagementItem.older_last.does_not_exist()
                                                        | (EngagementItem.older_last <= older_last)))
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True
