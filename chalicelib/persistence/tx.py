"""What the CRM table's transactions share: the connection they go through, and the one condition
every write that belongs to a customer checks.

A customer's profile is either a live `customer` item or, while the customer
is erased, a `customer_erasure` marker (chalicelib/persistence/erasure.py).
Every write of something the customer owns (interaction, complaint, due item,
message claim) carries `live_customer()` as a ConditionCheck on the profile in
its own transaction, so once the erasure has begun no such write can land:
it is cancelled and answers 404.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError

from chalicelib.persistence.tables import CustomerItem, Item


def connection() -> Connection:
    return Item._get_connection().connection


def live_customer(branch: str | None = None) -> Any:
    """Condition on the profile: a live customer (not erased, not being erased), in `branch` if given."""
    condition = Item.type == CustomerItem
    if branch is not None:
        condition &= CustomerItem.branch_id == branch
    return condition


def failed_codes(error: TransactWriteError) -> list[str | None]:
    """The cancellation reason code of each item, in the order the transaction sent them (None: it was fine)."""
    return [r.code if r is not None else None for r in error.cancellation_reasons or []]


def conflicted(error: TransactWriteError) -> bool:
    """Another transaction was working on one of the items: retry, nothing was decided."""
    return "TransactionConflict" in failed_codes(error)
