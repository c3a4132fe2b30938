"""Order use cases: place an order for a customer, read, list, move it along its lifecycle."""

from __future__ import annotations

from datetime import datetime

from chalicelib.config import STALE_READ_ATTEMPTS
from chalicelib.domain import orders as rules
from chalicelib.domain.access import Access, Role
from chalicelib.domain.clock import is_id, iso, new_id, utcnow
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import FieldError, Forbidden, NotFound, StaleRead, Unprocessable
from chalicelib.domain.orders import HistoryEntry, NewOrder, Order, OrderChanges
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import orders as repo
from chalicelib.persistence import products as products_repo
from chalicelib.persistence.paging import RawKey
from chalicelib.services import customers


def place(access: Access, customer_id: str, new: NewOrder) -> Order:
    """The order takes the customer's branch, which its write checks: a customer moved meanwhile is read again,
    one erased meanwhile is a 404."""
    lines = _priced(new)
    totals = rules.totals_of(lines)
    rules.check_client_totals(new.totals, totals)
    for _ in range(STALE_READ_ATTEMPTS):
        customer = customers.get(access, customer_id)
        order = _new_order(access, customer, new, lines, totals)
        try:
            repo.create(order)
        except StaleRead:
            continue
        return order
    raise StaleRead("The customer kept changing; retry.")


def _priced(new: NewOrder) -> list[rules.Line]:
    """Each line priced from the catalog; 422 naming every line whose sku is unknown or inactive."""
    catalog = products_repo.get_many([line.sku for line in new.lines])
    missing = [FieldError(f"lines.{n}.sku", "is not an active product of the catalog")
               for n, line in enumerate(new.lines) if line.sku not in catalog or not catalog[line.sku].active]
    if missing:
        raise Unprocessable(missing)
    return [rules.line_of(n + 1, line, name=catalog[line.sku].name, unit=catalog[line.sku].unit,
                          list_price=catalog[line.sku].list_price, category=catalog[line.sku].category,
                          cost_price=catalog[line.sku].cost_price)
            for n, line in enumerate(new.lines)]


def _new_order(access: Access, customer: Customer, new: NewOrder, lines: list[rules.Line],
               totals: rules.Totals) -> Order:
    now = utcnow()
    stamp = iso(now)
    order_no = new.order_no or _generated_number(customer.branch_id, _local_year(now))
    contact_phone = new.contact_phone or customer.phone
    return Order(id=new_id(now), order_no=order_no, customer_id=customer.id, branch_id=customer.branch_id,
                 channel=new.channel, status=rules.Status.DRAFT.value, payment_status=rules.PaymentStatus.UNPAID.value,
                 lines=lines, subtotal=totals.subtotal, discount_total=totals.discount_total,
                 tax_total=totals.tax_total, net_total=totals.net_total, placed_at=stamp, updated_at=stamp,
                 created_by=access.principal.sub, notify_customer=new.notify_customer,
                 promised_date=new.promised_date, ref=new.ref, contact_phone=contact_phone,
                 placed_with_staff_phone=contact_phone is not None and contact_phone == access.principal.phone,
                 history=[HistoryEntry(at=stamp, by=access.principal.sub, change="created", to_value="draft")])


def _local_year(now: datetime) -> int:
    from zoneinfo import ZoneInfo

    from chalicelib.config import settings

    return now.astimezone(ZoneInfo(settings().timezone)).year


def _generated_number(branch_id: str, year: int) -> str:
    """`<BRANCH>-<year>-<n>`, e.g. JKT-2026-000123: the branch's own sequence, so unique per branch."""
    return f"{branch_id[:3].upper()}-{year}-{repo.next_order_number(branch_id, year):06d}"


def get(access: Access, order_id: str) -> Order:
    order = repo.get(order_id) if is_id(order_id) else None
    if order is None:
        raise NotFound("No such record.")
    access.check_branch(order.branch_id)
    return order


def update(access: Access, order_id: str, if_match: str | None, changes: OrderChanges) -> Order:
    current = get(access, order_id)
    require_if_match(if_match, current.version, "order")
    now = utcnow()
    by = access.principal.sub
    updated = current
    if changes.status is not None and changes.status != current.status:
        if changes.status == rules.Status.CANCELLED and current.status == rules.Status.CONFIRMED \
                and not access.principal.roles & {Role.ADMIN, Role.MANAGER}:
            raise Forbidden("Only an admin or a manager may cancel a confirmed order.")
        updated = rules.transition(updated, changes.status, by=by, now=now, return_reason=changes.return_reason)
    if changes.payment_status is not None and changes.payment_status != updated.payment_status:
        updated = rules.pay(updated, changes.payment_status, by=by, now=now)
    if "promised_date" in changes.sent:
        updated = rules.promise(updated, changes.promised_date, by=by, now=now)
    if updated is current:
        return current
    updated.updated_at = iso(now)
    updated.version = current.version + 1
    repo.update(current, updated)
    return updated


LOOKUP_LATEST = 5


def lookup(access: Access, *, order_no: str | None, branch: str | None,
           phone: str | None) -> tuple[str, list[Order], str | None]:
    """The call centre's "where is my order?": by the branch's order number (the guard, then the order), or by the
    caller's phone (the customer, then their latest orders); two requests either way. Returns the customer's id,
    the orders, and the customer's language when it was read. Another branch's order or customer is "not found", as a missing one."""
    if phone is not None:
        customer = customers.lookup(access, phone=phone, email=None)
        found, _ = repo.list_page(branch=None, customer_id=customer.id, status=None, placed_from=None,
                                  placed_to=None, limit=LOOKUP_LATEST, start_key=None)
        return customer.id, [o for o in found if access.may_see(o.branch_id)], customer.language
    branch = branch or access.branch
    if branch is None or order_no is None:
        raise Unprocessable([FieldError("branch", "is required to look up an order number (an order number is "
                                                  "unique per branch)")])
    access.check_branch(branch)
    order_id = repo.order_id_of(branch, order_no)
    order = repo.get(order_id) if order_id else None
    if order is None:
        raise NotFound("No such record.")
    access.check_branch(order.branch_id)
    return order.customer_id, [order], None


def of_customer(access: Access, customer_id: str, limit: int,
                start_key: RawKey | None) -> tuple[list[Order], RawKey | None]:
    customers.get(access, customer_id)  # another branch's customer: 404, as for a missing one
    found, next_key = repo.list_page(branch=None, customer_id=customer_id, status=None, placed_from=None,
                                     placed_to=None, limit=limit, start_key=start_key)
    # an order stays with the branch that placed it (a customer who moved keeps the old branch's orders there)
    return [o for o in found if access.may_see(o.branch_id)], next_key


def list_page(access: Access, *, branch: str | None, status: str | None, placed_from: str | None,
              placed_to: str | None, limit: int, start_key: RawKey | None) -> tuple[list[Order], RawKey | None]:
    if access.branch is not None:
        if branch is not None and branch != access.branch:
            raise Forbidden("You may only list orders of your own branch.")
        branch = access.branch
    return repo.list_page(branch=branch, customer_id=None, status=status, placed_from=placed_from,
                          placed_to=placed_to, limit=limit, start_key=start_key)
