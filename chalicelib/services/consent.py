"""Consent use cases: record a customer's marketing consent (PUT /customers/{id}/consent)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from chalicelib.domain.access import Access
from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.consent import ConsentGiven, recorded
from chalicelib.domain.customers import Customer
from chalicelib.persistence import customers as repo
from chalicelib.services import customers


def set_marketing(access: Access, customer_id: str, given: Mapping[str, ConsentGiven | None]) -> Customer:
    """Record marketing consent per topic, stamped now, with its source. Last write wins per topic
    (no If-Match: consent is what the customer said last, whoever records it)."""
    current = customers.get(access, customer_id)
    now = iso(utcnow())
    updated = replace(current, consent=recorded(given, now, current.consent), updated_at=now,
                      version=current.version + 1)
    repo.update(current, updated)
    return updated


def withdraw_unattended(customer_id: str, topic: str, given: ConsentGiven) -> bool:
    """A withdrawal no staff member asked for (an opt-out link's confirmation: the signed link is the permission;
    a hard bounce or a spam complaint that SES reports): the topic's consent becomes `given` unless it is already
    withdrawn. Returns whether this call changed it; an erased customer changes
    nothing. A profile changed meanwhile is read again."""
    from chalicelib.config import STALE_READ_ATTEMPTS
    from chalicelib.domain.errors import Conflict, NotFound, PreconditionFailed, StaleRead

    for _ in range(STALE_READ_ATTEMPTS):
        current = repo.get(customer_id, consistent=True)
        if current is None:
            return False
        entry = current.consent.get(topic)
        if entry is not None and not entry.value:
            return False
        now = iso(utcnow())
        updated = replace(current, consent=recorded({topic: given}, now, current.consent), updated_at=now,
                          version=current.version + 1)
        try:
            repo.update(current, updated)
        except (PreconditionFailed, StaleRead, Conflict):
            continue
        except NotFound:
            return False  # erased meanwhile
        return True
    raise StaleRead("The customer kept changing; retry.")
