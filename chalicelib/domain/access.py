"""Who may do what: the permission matrix, enforced in one place.

Roles are Cognito groups; the branch is the `custom:branch` attribute. A route
names its operation; `authorize()` decides whether the caller may run it at
all (403 otherwise) and `scope()` tells the use case which branch the caller
is limited to (None = every branch). A record outside the caller's branch is
answered as not found, so existence does not leak across branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chalicelib.domain.errors import Forbidden, NotFound


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"
    MARKETING = "marketing"
    ANALYST = "analyst"


class Scope(StrEnum):
    ALL = "all branches"
    OWN = "own branch"


A, M, G, K, N = Role.ADMIN, Role.MANAGER, Role.AGENT, Role.MARKETING, Role.ANALYST

# operation -> {role: scope}. A role missing from an operation may not run it.
PERMISSIONS: dict[str, dict[Role, Scope]] = {
    "customers.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "customers.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN, K: Scope.ALL},
    "customers.lookup": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN, K: Scope.ALL},
    "customers.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN, K: Scope.ALL},
    "customers.update": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "customers.delete": {A: Scope.ALL, M: Scope.OWN},
    "customers.consent": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "interactions.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "interactions.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "interactions.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "customers.timeline": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "complaints.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "complaints.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "complaints.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "complaints.update": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "due_items.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "due_items.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "due_items.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "due_items.delete": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    # Analytics answers carry no personal data, except churn risk: staff act on it.
    "analytics.summary": {A: Scope.ALL, M: Scope.OWN, N: Scope.ALL},
    "analytics.anomalies": {A: Scope.ALL, M: Scope.OWN, N: Scope.ALL},
    "analytics.exports": {A: Scope.ALL, N: Scope.ALL},
    # Rewrites every day's facts and deletes what owned them before: head office only
    "analytics.backfills": {A: Scope.ALL},
    "analytics.churn_risk": {A: Scope.ALL, M: Scope.OWN},
    # The money analyses: ids of customers and orders for admins and managers, pseudonyms for analysts
    "analytics.money": {A: Scope.ALL, M: Scope.OWN, N: Scope.ALL},
    # Satisfaction: by day and department for analysts too; by staff member for managers (their branch) and admins
    # only (chalicelib/services/analytics.py satisfaction).
    "analytics.satisfaction": {A: Scope.ALL, M: Scope.OWN, N: Scope.ALL},
    # The catalog: head office (admin) writes it; everyone with customer access reads it, without cost prices
    # (chalicelib/domain/products.py sees_cost). Not branch data: every branch sells the same catalog.
    "products.create": {A: Scope.ALL},
    "products.update": {A: Scope.ALL},
    "products.list": {A: Scope.ALL, M: Scope.ALL, G: Scope.ALL, K: Scope.ALL},
    "products.get": {A: Scope.ALL, M: Scope.ALL, G: Scope.ALL, K: Scope.ALL},
    # Orders: a customer's own branch, as for customers; never marketing or analysts (customer data).
    # Only admins and managers cancel a confirmed order (chalicelib/services/orders.py).
    "orders.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "orders.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "orders.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "orders.update": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    # Shipments of an order: whoever moves the order (carriers post events through their signed webhook).
    "shipments.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "shipments.event": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    # Vehicles: the owner's branch, as for customers (the service desk is the branch's agents); never marketing or
    # analysts (the export carries them pseudonymised).
    "vehicles.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "vehicles.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "vehicles.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "vehicles.lookup": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "vehicles.update": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    # Workshop appointments: the customer's branch (its workshop), like vehicles.
    "appointments.slots": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "appointments.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "appointments.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "appointments.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "appointments.update": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    # Work orders: the vehicle's branch (its workshop), like vehicles.
    "work_orders.create": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "work_orders.list": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "work_orders.get": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "work_orders.update": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    "work_orders.invoice": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN},
    # Campaigns: marketing runs them, admins too (and alone approve one over 5,000 people, or an informational
    # one); managers read their branch's reports; agents and analysts have none (analysts read the export).
    "campaigns.create": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.list": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.get": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.update": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.preview": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.schedule": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.test_send": {A: Scope.ALL, K: Scope.ALL},
    "campaigns.approve": {A: Scope.ALL},
    "campaigns.report": {A: Scope.ALL, K: Scope.ALL, M: Scope.OWN},
    # The staff console's frame (its menu, who is signed in): every role. Each page's content needs its own
    # operation above, the one its API route needs (chalicelib/console/pages.py).
    "console.open": {A: Scope.ALL, M: Scope.OWN, G: Scope.OWN, K: Scope.ALL, N: Scope.ALL},
}


@dataclass(frozen=True)
class Principal:
    sub: str
    username: str
    roles: frozenset[Role]
    branch: str | None
    phone: str | None = None  # the staff member's own number (E.164), from the token: an order placed with it is flagged

    @classmethod
    def from_claims(cls, sub: str, username: str, groups: list[str], branch: str | None,
                    phone: str | None = None) -> Principal:
        known = {r.value for r in Role}
        return cls(
            sub=sub,
            username=username,
            roles=frozenset(Role(g) for g in groups if g in known),
            branch=branch or None,
            phone=phone or None,
        )


@dataclass(frozen=True)
class Access:
    """What one caller may do in one operation."""

    principal: Principal
    operation: str
    branch: str | None  # None: every branch

    def may_see(self, branch: str) -> bool:
        return self.branch is None or branch == self.branch

    def check_branch(self, branch: str) -> None:
        """A record in another branch is reported as missing."""
        if not self.may_see(branch):
            raise NotFound("No such record.")

    def check_target_branch(self, branch: str) -> None:
        """Writing a record into another branch is refused outright."""
        if self.branch is not None and branch != self.branch:
            raise Forbidden(f"You may only work with customers of your own branch ({self.branch}).")


def authorize(principal: Principal, operation: str) -> Access:
    grants = PERMISSIONS.get(operation, {})
    scopes = [grants[r] for r in principal.roles if r in grants]
    if not scopes:
        held = ", ".join(sorted(principal.roles)) or "none"
        raise Forbidden(f"Your role ({held}) does not allow {operation}; it takes one of: {', '.join(sorted(grants))}.")
    if Scope.ALL in scopes:
        return Access(principal, operation, None)
    # Scoped roles without a branch attribute see nothing rather than everything.
    return Access(principal, operation, principal.branch or "\x00no-branch")
