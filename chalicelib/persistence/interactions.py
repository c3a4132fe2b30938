"""Interaction repository and the customer timeline."""

from __future__ import annotations

from datetime import timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.config import STALE_READ_ATTEMPTS
from chalicelib.domain.campaigns import Recipient
from chalicelib.domain.clock import iso, moment_of
from chalicelib.domain.complaints import Complaint
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.interactions import Interaction, InteractionKind
from chalicelib.domain.orders import Order
from chalicelib.domain.surveys import Survey, hide_link
from chalicelib.persistence import campaigns, complaints, orders, surveys
from chalicelib.persistence import customers as customers_repo
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import RawKey, query_page
from chalicelib.persistence.tables import (
    INTERACTION_PREFIX,
    PROFILE_SK,
    ComplaintItem,
    CustomerItem,
    InteractionItem,
    Item,
    OrderItem,
    RecipientItem,
    SurveyItem,
    customer_pk,
    interaction_sk,
)
from chalicelib.persistence.tx import conflicted, connection, failed_codes, live_customer


def to_item(i: Interaction) -> InteractionItem:
    return InteractionItem(
        pk=customer_pk(i.customer_id),
        sk=interaction_sk(i.occurred_at, i.id),
        tl_pk=customer_pk(i.customer_id),
        tl_sk=f"{i.occurred_at}#interaction#{i.id}",
        id=i.id,
        customer_id=i.customer_id,
        channel=i.channel,
        direction=i.direction,
        kind=i.kind,
        summary=i.summary,
        staff_id=i.staff_id,
        occurred_at=i.occurred_at,
        created_at=i.created_at,
        ref=i.ref,
        delivery=i.delivery,
        reason=i.reason,
        branch_id=i.branch_id,
    )


def from_item(item: InteractionItem) -> Interaction:
    return Interaction(
        id=item.id,
        customer_id=item.customer_id,
        channel=item.channel,
        direction=item.direction,
        kind=item.kind,
        # a survey's link is the customer's: the item keeps it (a message held back for the quiet hours is sent
        # from it), what is read shows it hidden
        summary=hide_link(item.summary) if item.kind == InteractionKind.SURVEY else item.summary,
        staff_id=item.staff_id,
        occurred_at=item.occurred_at,
        created_at=item.created_at,
        ref=item.ref,
        delivery=item.delivery,
        reason=item.reason,
        branch_id=item.branch_id,
    )


def add(i: Interaction, branch_scope: str | None, *, likely_branch: str | None = None) -> None:
    """One transaction: the customer must exist (in the caller's branch) and the entry is new.

    The entry is stamped with the customer's branch (`i.branch_id`), checked in
    the same transaction: a branch-scoped caller's branch is the one the
    condition requires anyway; for a caller of every branch it is
    `likely_branch` (their own) and, if the customer is elsewhere, the
    profile's branch read after the cancelled transaction (one GetItem and a
    second transaction, only then).
    """
    branch = branch_scope if branch_scope is not None else likely_branch
    for _ in range(STALE_READ_ATTEMPTS):  # a customer moving between branches meanwhile, again and again, is a conflict
        if branch is None:
            branch = customers_repo.branch_of(i.customer_id)
            if branch is None:
                raise NotFound("No such record.")
        i.branch_id = branch
        try:
            with translated(), TransactWrite(connection=connection()) as tx:
                tx.condition_check(CustomerItem, customer_pk(i.customer_id), PROFILE_SK,
                                   condition=live_customer(branch))
                tx.save(to_item(i), condition=InteractionItem.pk.does_not_exist())
            return
        except TransactWriteError as exc:
            if conflicted(exc):
                continue  # another transaction was writing the profile: nothing was decided, try again
            if "ConditionalCheckFailed" not in failed_codes(exc):
                raise
            if branch_scope is not None:
                raise NotFound("No such record.") from exc
            branch = None  # the customer is elsewhere (or gone): read where
    raise Conflict("The customer was changed meanwhile; retry.")


def _interactions(items: list[Item]) -> list[Interaction]:
    return [from_item(x) for x in items if isinstance(x, InteractionItem)]


def _owned_page(
    customer_id: str,
    *,
    index_name: str | None,
    limit: int,
    start_key: RawKey | None,
) -> tuple[Customer | None, list[Item], RawKey | None]:
    """Items owned by a customer, newest first, with the profile the caller's access is checked against.

    The profile sorts above every owned item (sk `PROFILE` above `I#...`, tl_sk
    `~` above every timestamp), so the first page's newest-first Query returns
    it on top at no extra request. A later page (start_key given) starts below
    it, so the profile is read with a GetItem: a cursor holds a position, never
    a permission, and every page is checked against the customer as they are now.
    """
    if index_name is None:
        key_range = (
            Item.sk.between(INTERACTION_PREFIX, PROFILE_SK)
            if start_key is None
            else Item.sk.startswith(INTERACTION_PREFIX)
        )
    else:
        key_range = None
    first = start_key is None
    if not first:
        customer = customers_repo.get(customer_id)
        if customer is None:
            return None, [], None
    page = query_page(
        customer_pk(customer_id),
        index_name=index_name,
        limit=limit + 1 if first else limit,
        start_key=start_key,
        range_key_condition=key_range,
    )
    if not first:
        return customer, page.items, page.next_key
    if not page.items or not isinstance(page.items[0], CustomerItem):
        return None, [], None
    return customers_repo.from_item(page.items[0]), page.items[1:], page.next_key


def history_page(
    customer_id: str, *, limit: int, start_key: RawKey | None
) -> tuple[Customer | None, list[Interaction], RawKey | None]:
    customer, items, next_key = _owned_page(customer_id, index_name=None, limit=limit, start_key=start_key)
    return customer, _interactions(items), next_key


def timeline_page(
    customer_id: str, *, limit: int, start_key: RawKey | None
) -> tuple[Customer | None, list[Interaction | Complaint | Order | Recipient | Survey], RawKey | None]:
    """Everything that happened with a customer, newest first: interactions (messages too), complaints, orders,
    campaigns that reached them, satisfaction surveys."""
    customer, items, next_key = _owned_page(customer_id, index_name="timeline", limit=limit, start_key=start_key)
    entries: list[Interaction | Complaint | Order | Recipient | Survey] = []
    for x in items:
        if isinstance(x, InteractionItem):
            entries.append(from_item(x))
        elif isinstance(x, ComplaintItem):
            entries.append(complaints.from_item(x))
        elif isinstance(x, OrderItem):
            entries.append(orders.from_item(x))
        elif isinstance(x, RecipientItem):
            entries.append(campaigns.recipient_from_item(x))
        elif isinstance(x, SurveyItem):
            entries.append(surveys.from_item(x))
    return customer, entries, next_key


def get(customer_id: str, interaction_id: str) -> Interaction | None:
    """One of the customer's interactions by id: one Query of the millisecond its id was made in (the sort
    key holds the time; an interaction's id is a ULID of when it happened)."""
    moment = moment_of(interaction_id)
    low, high = iso(moment - timedelta(milliseconds=1)), iso(moment + timedelta(milliseconds=1))
    with translated():
        for item in InteractionItem.query(customer_pk(customer_id), InteractionItem.sk.between(
                f"{INTERACTION_PREFIX}{low}", f"{INTERACTION_PREFIX}{high}#~"), consistent_read=True):
            if isinstance(item, InteractionItem) and item.sk.endswith(f"#{interaction_id}"):
                return from_item(item)
    return None
