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
