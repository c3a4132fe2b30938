"""Customer use cases: create, read, merge-patch, erase, list, search, look up."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any

from chalicelib.config import ATTRIBUTES_MAX_ITEMS, ERASURE_BEGIN_ATTEMPTS, settings
from chalicelib.domain import customers as rules
from chalicelib.domain.access import Access
from chalicelib.domain.clock import is_id, iso, new_id, utcnow
from chalicelib.domain.consent import recorded
from chalicelib.domain.customers import Customer, CustomerChanges, Erasure, NewCustomer
from chalicelib.domain.errors import (
    BadRequest,
    Conflict,
    ContactInUse,
    FieldError,
    Forbidden,
    NotFound,
    StaleRead,
    ValidationFailed,
)
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import customers as repo
from chalicelib.persistence import erasure
from chalicelib.persistence.paging import RawKey

# Fields a merge patch sets as they are (tags, consent and attributes have rules of their own).
_PLAIN_FIELDS = ("name", "phone", "email", "birthday", "gender", "address", "city",
                 "branch_id", "lifecycle_stage", "preferred_channel", "language")


def _named_to_whom_may_see(access: Access, error: ContactInUse) -> Conflict | ContactInUse:
    """A 409 names the customer who holds the contact only to a caller who may see that customer;
    anyone else learns that the contact is taken, not by whom (docs/security.md). Both cost one read."""
    holder_branch = repo.branch_of(error.holder_id) if error.holder_id else None
    if holder_branch is not None and access.may_see(holder_branch):
        return Conflict(error.detail, field=error.field, existing_customer_id=error.holder_id)
    return error


def _require_reachable(customer: Customer) -> None:
    """Checked on every write of a profile (create and change): the preferred channel has an address."""
    problem = rules.check_channel_reachable(customer.preferred_channel, customer.email)
    if problem:
        raise ValidationFailed([FieldError("preferred_channel", problem)])


def create(access: Access, new: NewCustomer) -> Customer:
    customer = build(access, new)
    _require_reachable(customer)
    try:
        repo.create(customer)
    except ContactInUse as error:
        raise _named_to_whom_may_see(access, error) from None
    return customer


def build(access: Access, new: NewCustomer) -> Customer:
    """A new customer from validated input, checked against the caller's branch; not stored yet."""
    branch = new.branch_id or access.principal.branch
    if not branch:
        raise ValidationFailed([FieldError("branch_id", "is required for callers without a branch")])
    access.check_target_branch(branch)
    now = utcnow()
    stamp = iso(now)
    return Customer(
        id=new_id(now),
        name=new.name,
        phone=new.phone,
        email=new.email,
        birthday=new.birthday,
        gender=new.gender,
        address=new.address,
        city=new.city,
        branch_id=branch,
        lifecycle_stage=new.lifecycle_stage,
        tags=list(new.tags),
        preferred_channel=new.preferred_channel,
        language=new.language,
        consent=recorded(new.consent, stamp, {}),
        attributes=dict(new.attributes),
        created_at=stamp,
        updated_at=stamp,
        version=1,
    )


def get(access: Access, customer_id: str) -> Customer:
    customer = repo.get(customer_id) if is_id(customer_id) else None
    if customer is None:
        raise NotFound("No such record.")
    access.check_branch(customer.branch_id)
    return customer


def update(access: Access, customer_id: str, if_match: str | None, changes: CustomerChanges) -> Customer:
    """A JSON merge patch, made only to the version named in If-Match."""
    current = get(access, customer_id)
    require_if_match(if_match, current.version, "customer")
    fields: dict[str, Any] = {name: getattr(changes, name) for name in _PLAIN_FIELDS if name in changes.sent}
    if "branch_id" in fields:
        access.check_target_branch(fields["branch_id"])
    if "tags" in changes.sent:
        fields["tags"] = list(changes.tags or ())
    if "attributes" in changes.sent:
        merged = dict(current.attributes)
        for key, value in (changes.attributes or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if len(merged) > ATTRIBUTES_MAX_ITEMS:
            raise ValidationFailed([FieldError("attributes", f"may hold at most {ATTRIBUTES_MAX_ITEMS} entries")])
        fields["attributes"] = merged
    now = iso(utcnow())
    if "consent" in changes.sent:
        fields["consent"] = recorded(changes.consent or {}, now, current.consent)
    updated = replace(current, **fields, updated_at=now, version=current.version + 1)
    _require_reachable(updated)
    try:
        repo.update(current, updated)
    except ContactInUse as error:
        raise _named_to_whom_may_see(access, error) from None
    return updated


def delete(access: Access, customer_id: str) -> None:
    """Erase the customer and everything they own (chalicelib/persistence/erasure.py).

    The profile is read consistently and turned into an erasure marker only if
    it is still that version (a concurrent change makes it read again), so the
    guards erased are those of its final state; an erasure found under way
    (cut short before) is resumed. Answers only when nothing of the customer is left.
    """
    if not is_id(customer_id):
        raise NotFound("No such record.")
    for attempt in range(ERASURE_BEGIN_ATTEMPTS):
        state = repo.get_state(customer_id, consistent=True)
        if state is None:
            raise NotFound("No such record.")
        access.check_branch(state.branch_id)
        if isinstance(state, Erasure):
            break
        try:
            erasure.begin(state, utcnow())
            break
        except StaleRead:
            time.sleep(random.uniform(0, 0.02 * 2 ** attempt))  # changed (or being changed) meanwhile: read again
    else:
        raise StaleRead("The customer kept changing during the erasure; retry.")
    erasure.erase_owned(customer_id)
    erasure.finish(customer_id)


def lookup(access: Access, *, phone: str | None, email: str | None) -> Customer:
    """Screen-pop. No customer, and a customer the caller may not see, answer the same 404."""
    customer = repo.find_by("phone", phone) if phone else repo.find_by("email", email or "")
    if customer is None:
        raise NotFound("No such record.")
    access.check_branch(customer.branch_id)
    return customer


def list_page(
    access: Access,
    *,
    branch: str | None,
    stage: str | None,
    tag: str | None,
    q: str | None,
    limit: int,
    start_key: RawKey | None,
) -> tuple[list[Customer], RawKey | None]:
    if access.branch is not None:
        if branch is not None and branch != access.branch:
            raise Forbidden("You may only list customers of your own branch.")
        branch = access.branch
    if q and rules.looks_like_phone(q):
        try:
            phone = rules.normalize_phone(q, settings().default_phone_region)
        except ValueError:
            return [], None
        if start_key is not None:
            raise BadRequest("This listing has a single page.")
        found = repo.find_by("phone", phone)
        matches = found is not None and (branch is None or found.branch_id == branch) and \
            (stage is None or found.lifecycle_stage == stage) and (tag is None or tag in found.tags)
        return ([found] if found is not None and matches else []), None
    if q:
        key = rules.name_key(q)
        if not key:
            return [], None
        return repo.search_name_page(key, branch=branch, stage=stage, tag=tag, limit=limit, start_key=start_key)
    return repo.list_page(branch=branch, stage=stage, tag=tag, limit=limit, start_key=start_key)
