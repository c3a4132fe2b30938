"""Interaction use cases: record one, read the history, read the timeline."""

from __future__ import annotations

from chalicelib.domain.access import Access
from chalicelib.domain.campaigns import Recipient
from chalicelib.domain.clock import is_id, iso, new_id, utcnow
from chalicelib.domain.complaints import Complaint
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import NotFound
from chalicelib.domain.interactions import Interaction, NewInteraction
from chalicelib.domain.orders import Order
from chalicelib.domain.surveys import Survey
from chalicelib.persistence import customers as customers_repo
from chalicelib.persistence import interactions as repo
from chalicelib.persistence.paging import RawKey


def add(access: Access, customer_id: str, new: NewInteraction) -> Interaction:
    if not is_id(customer_id):
        raise NotFound("No such record.")
    interaction = build(access, customer_id, new)
    repo.add(interaction, access.branch, likely_branch=access.principal.branch)
    return interaction


def build(access: Access, customer_id: str, new: NewInteraction) -> Interaction:
    """A new interaction from validated input; not stored yet."""
    now = utcnow()
    occurred = new.occurred_at or now
    return Interaction(
        id=new_id(occurred),
        customer_id=customer_id,
        channel=new.channel,
        direction=new.direction,
        kind=new.kind,
        summary=new.summary,
        staff_id=access.principal.sub,  # from the token, never from the body
        occurred_at=iso(occurred),
        created_at=iso(now),
        ref=new.ref,
    )


def _checked(access: Access, profile: Customer | None) -> None:
    """Every page is checked against the customer as they are now: a cursor carries a position, not a permission."""
    if profile is None:
        raise NotFound("No such record.")
    access.check_branch(profile.branch_id)


def get(access: Access, customer_id: str, interaction_id: str) -> Interaction:
    if not is_id(customer_id) or not is_id(interaction_id):
        raise NotFound("No such record.")
    _checked(access, customers_repo.get(customer_id))
    found = repo.get(customer_id, interaction_id)
    if found is None:
        raise NotFound("No such record.")
    return found


def history(access: Access, customer_id: str, limit: int, start_key: RawKey | None) -> tuple[list[Interaction], RawKey | None]:
    if not is_id(customer_id):
        raise NotFound("No such record.")
    profile, items, next_key = repo.history_page(customer_id, limit=limit, start_key=start_key)
    _checked(access, profile)
    return items, next_key


def timeline(access: Access, customer_id: str, limit: int,
             start_key: RawKey | None) -> tuple[list[Interaction | Complaint | Order | Recipient | Survey], RawKey | None]:
    if not is_id(customer_id):
        raise NotFound("No such record.")
    profile, items, next_key = repo.timeline_page(customer_id, limit=limit, start_key=start_key)
    _checked(access, profile)
    # an order stays with the branch that placed it: a customer who moved shows it only there; a campaign shows
    # where it reached the customer (not the arms that got nothing)
    return [x for x in items if not (isinstance(x, Order) and not access.may_see(x.branch_id))
            and not (isinstance(x, Recipient) and not x.sent)], next_key
