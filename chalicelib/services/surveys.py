"""Survey use cases staff have: a customer's last answers (the 360). Asking and answering are the customers' and the
stream consumer's (chalicelib/workflows/surveys.py)."""

from __future__ import annotations

from chalicelib.domain.access import Access
from chalicelib.domain.customers import Customer
from chalicelib.domain.surveys import Survey

LAST_ANSWERS = 3


def last_answers(access: Access, customer: Customer) -> list[Survey]:
    """The customer's last LAST_ANSWERS answered surveys, newest first (the customer as the caller may see them)."""
    from chalicelib.persistence import surveys as repo

    access.check_branch(customer.branch_id)
    return [s for s in repo.of_customer(customer.id) if s.status == "answered"][:LAST_ANSWERS]
