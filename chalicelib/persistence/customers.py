"""Customer repository: profiles and their uniqueness guards."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.consent import Consent
from chalicelib.domain.customers import Customer, Erasure, name_key
from chalicelib.domain.errors import Conflict, ContactInUse, NotFound, PreconditionFailed
from chalicelib.persistence import complaints
from chalicelib.persistence.errors import translated
from chalicelib.persistence.paging import Page, RawKey, query_page
from chalicelib.persistence.tables import (
    ALL_CUSTOMERS_PK,
    GUARD_SK,
    PROFILE_SK,
    TIMELINE_PROFILE_SK,
    CustomerErasureItem,
    CustomerItem,
    GuardItem,
    Item,
    birthday_pk,
    branch_pk,
    branch_stage_pk,
    customer_pk,
    email_guard_pk,
    name_pk,
    phone_guard_pk,
    stage_pk,
)
from chalicelib.persistence.tx import conflicted, connection


def to_item(c: Customer) -> CustomerItem:
    key = name_key(c.name)
    return CustomerItem(
        pk=customer_pk(c.id),
        sk=PROFILE_SK,
        tl_pk=customer_pk(c.id),
        tl_sk=TIMELINE_PROFILE_SK,
        id=c.id,
        name=c.name,
        phone=c.phone,
        email=c.email,
        birthday=c.birthday,
        gender=c.gender,
        address=c.address,
        city=c.city,
        branch_id=c.branch_id,
        lifecycle_stage=c.lifecycle_stage,
        tags=list(c.tags) or None,
        preferred_channel=c.preferred_channel,
        language=c.language,
        consent={k: vars(v) for k, v in c.consent.items()} or None,
        attributes=dict(c.attributes) or None,
        created_at=c.created_at,
        updated_at=c.updated_at,
        version=c.version,
        all_pk=ALL_CUSTOMERS_PK,
        all_sk=c.id,
        branch_pk=branch_pk(c.branch_id),
        branch_sk=c.id,
        stage_pk=stage_pk(c.lifecycle_stage),
        stage_sk=c.id,
        branch_stage_pk=branch_stage_pk(c.branch_id, c.lifecycle_stage),
        branch_stage_sk=c.id,
        name_pk=name_pk(key),
        name_sk=f"{key}#{c.id}",
        # sparse `birthdays` index: BDAY#MM-DD (chalicelib/workflows/reminders.py)
        bday_pk=birthday_pk(c.birthday[5:10]) if c.birthday else None,
        bday_sk=c.id if c.birthday else None,
    )


def _plain(value: Any) -> Any:
    return value.as_dict() if hasattr(value, "as_dict") else value


def from_item(item: CustomerItem) -> Customer:
    consent = {k: Consent(**_plain(v)) for k, v in (_plain(item.consent) or {}).items()}
    return Customer(
        id=item.id,
        name=item.name,
        phone=item.phone,
        email=item.email,
        birthday=item.birthday,
        gender=item.gender,
        address=item.address,
        city=item.city,
        branch_id=item.branch_id,
        lifecycle_stage=item.lifecycle_stage,
        tags=[str(t) for t in item.tags or []],
        preferred_channel=item.preferred_channel,
        language=item.language,
        consent=consent,
        attributes=dict(_plain(item.attributes) or {}),
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version),
    )


def guard_keys(c: Customer) -> list[str]:
    keys = [phone_guard_pk(c.phone)]
    if c.email:
        keys.append(email_guard_pk(c.email))
    return keys


def _guard_field(guard_pk: str) -> str:
    return "phone" if guard_pk.startswith("PHONE#") else "email"


def _raise_for_cancellation(error: TransactWriteError, profile_written: bool) -> None:
    """Explain a cancelled transaction by the items that failed their condition.

    PynamoDB sends items grouped by kind (checks, deletes, puts, updates), so
    reasons are matched by the returned old item, not by position. A profile
    that failed its condition and is no live customer any more (erased, or
    being erased) is a 404; one that is still there was changed meanwhile (412).
    """
    for reason in error.cancellation_reasons:
        if reason is None or reason.code != "ConditionalCheckFailed":
            continue
        old = reason.raw_item or {}
        kind = old.get("type", {}).get("S")
        if kind == "guard":
            raise ContactInUse(_guard_field(old["pk"]["S"]), old.get("customer_id", {}).get("S"))
        if kind == "customer":
            raise PreconditionFailed("The customer was changed by someone else; fetch it again.")
        if profile_written and kind in (None, "customer_erasure"):
            # the profile is gone or being erased (a complaint moving with it can only be gone then too)
            raise NotFound("No such record.")
    if conflicted(error):
        raise Conflict("Another change to this customer is in progress; retry.")


def create(c: Customer) -> None:
    """One transaction: the profile and its guards, each only if new."""
    guards = guard_keys(c)
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(to_item(c), condition=CustomerItem.pk.does_not_exist(), return_values="ALL_OLD")
            for g in guards:
                tx.save(
                    GuardItem(pk=g, sk=GUARD_SK, customer_id=c.id),
                    condition=GuardItem.pk.does_not_exist(),
                    return_values="ALL_OLD",
                )
    except TransactWriteError as exc:
        _raise_for_cancellation(exc, profile_written=False)
        raise


def load(customers: list[Customer], interactions: list[Any]) -> None:
    """Bulk load for demo data: batch writes, no conditions. The caller guarantees uniqueness."""
    from chalicelib.persistence.interactions import to_item as interaction_item

    with translated(), Item.batch_write() as batch:
        for c in customers:
            batch.save(to_item(c))
            for g in guard_keys(c):
                batch.save(GuardItem(pk=g, sk=GUARD_SK, customer_id=c.id))
        for i in interactions:
            batch.save(interaction_item(i))


def get(customer_id: str, *, consistent: bool = False) -> Customer | None:
    """The live customer, or None (never stored, erased, or being erased)."""
    found = get_state(customer_id, consistent=consistent)
    return found if isinstance(found, Customer) else None


def get_state(customer_id: str, *, consistent: bool = False) -> Customer | Erasure | None:
    """What the profile item is now: a live customer, an erasure under way, or nothing."""
    with translated():
        try:
            item = Item.get(customer_pk(customer_id), PROFILE_SK, consistent_read=consistent)
        except Item.DoesNotExist:
            return None
    if isinstance(item, CustomerItem):
        return from_item(item)
    if isinstance(item, CustomerErasureItem):
        return Erasure(id=item.id, branch_id=item.branch_id, started_at=item.started_at)
    return None


def branch_of(customer_id: str) -> str | None:
    """The live customer's branch (a GetItem of two attributes), or None."""
    with translated():
        try:
            item = Item.get(customer_pk(customer_id), PROFILE_SK, attributes_to_get=["type", "branch_id"])
        except Item.DoesNotExist:
            return None
    return str(item.branch_id) if isinstance(item, CustomerItem) else None


def get_many(customer_ids: list[str]) -> dict[str, Customer]:
    """The profiles of `customer_ids` that exist, by id: BatchGetItem, 100 keys a request."""
    found: dict[str, Customer] = {}
    wanted = list(dict.fromkeys(customer_ids))
    for start in range(0, len(wanted), 100):
        with translated():
            for item in Item.batch_get([(customer_pk(i), PROFILE_SK) for i in wanted[start:start + 100]]):
                if isinstance(item, CustomerItem):
                    found[item.id] = from_item(item)
    return found


def update(old: Customer, new: Customer) -> None:
    """Replace the profile if it is still the live customer `old`; move guards that changed.

    A move to another branch takes the customer's complaints along in the same
    transaction (COMPLAINTS_MOVED_WITH_PROFILE_MAX of them; more, and the rest follow
    right after, and again from the table's stream: chalicelib/workflows/stream.py).
    """
    old_guards, new_guards = set(guard_keys(old)), set(guard_keys(new))
    added = sorted(new_guards - old_guards)
    moving = complaints.ids_of_customer(old.id) if new.branch_id != old.branch_id else []
    with_profile, after = moving[:complaints.MOVED_WITH_PROFILE_MAX], moving[complaints.MOVED_WITH_PROFILE_MAX:]
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.save(
                to_item(new),
                condition=(Item.type == CustomerItem) & (CustomerItem.version == old.version),
                return_values="ALL_OLD",
            )
            for g in added:
                tx.save(
                    GuardItem(pk=g, sk=GUARD_SK, customer_id=new.id),
                    condition=GuardItem.pk.does_not_exist(),
                    return_values="ALL_OLD",
                )
            for g in sorted(old_guards - new_guards):
                tx.delete(GuardItem(pk=g, sk=GUARD_SK), condition=GuardItem.customer_id == old.id)
            complaints.move_in(tx, with_profile, new.branch_id, new.updated_at)
    except TransactWriteError as exc:
        _raise_for_cancellation(exc, profile_written=True)
        raise
    if after:
        complaints.move(after, new.branch_id, new.updated_at)
    if new.branch_id != old.branch_id:
        from chalicelib.persistence import vehicles

        vehicles.follow_owner(new.id, new.branch_id)  # and again from the stream, should this be cut short


def _customers(page: Page) -> tuple[list[Customer], RawKey | None]:
    return [from_item(i) for i in page.items if isinstance(i, CustomerItem)], page.next_key


def list_page(
    *,
    branch: str | None,
    stage: str | None,
    tag: str | None,
    limit: int,
    start_key: RawKey | None,
) -> tuple[list[Customer], RawKey | None]:
    """Newest first. Branch and stage are index keys (one Query per page); a tag is a filter."""
    if branch and stage:
        index, hash_key = "customers_by_branch_stage", branch_stage_pk(branch, stage)
    elif stage:
        index, hash_key = "customers_by_stage", stage_pk(stage)
    elif branch:
        index, hash_key = "customers_by_branch", branch_pk(branch)
    else:
        index, hash_key = "customers_all", ALL_CUSTOMERS_PK
    return _customers(query_page(
        hash_key,
        index_name=index,
        limit=limit,
        start_key=start_key,
        filter_condition=CustomerItem.tags.contains(tag) if tag else None,
    ))


def search_name_page(
    prefix: str,
    *,
    branch: str | None,
    stage: str | None,
    tag: str | None,
    limit: int,
    start_key: RawKey | None,
) -> tuple[list[Customer], RawKey | None]:
    """Customers whose name starts with `prefix` (already in name_key form), A-Z."""
    condition: Any = None
    for extra in (
        CustomerItem.branch_id == branch if branch else None,
        CustomerItem.lifecycle_stage == stage if stage else None,
        CustomerItem.tags.contains(tag) if tag else None,
    ):
        if extra is not None:
            condition = extra if condition is None else condition & extra
    return _customers(query_page(
        name_pk(prefix),
        index_name="customers_by_name",
        range_key_condition=CustomerItem.name_sk.startswith(prefix),
        filter_condition=condition,
        limit=limit,
        start_key=start_key,
        newest_first=False,
    ))


def find_by(field: str, value: str) -> Customer | None:
    """Screen-pop lookup by phone or email: one Query on a unique-valued index."""
    index = CustomerItem.customers_by_phone if field == "phone" else CustomerItem.customers_by_email
    with translated():
        for item in index.query(value, limit=1):
            if isinstance(item, CustomerItem):
                return from_item(item)
    return None
