"""Routes of consent: a customer's marketing consent (models: chalicelib/api/consent_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.customers import customer_reply
from chalicelib.api.http import Call, Reply, RouteSpec, View

if TYPE_CHECKING:
    from chalicelib.api.consent_models import ConsentSet


def put_consent(call: Call[ConsentSet, None], customer_id: str) -> Reply:
    from chalicelib.services import consent

    return customer_reply(consent.set_marketing(call.caller, customer_id, call.body.to_domain()))


ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("PUT", "/customers/{customer_id}/consent", "customers.consent",
               "Set marketing consent (SMS, email) with its source", response="customers_models:CustomerOut",
               errors=(400, 401, 403, 404, 412, 413, 415), headers=("ETag",)), put_consent),
]
