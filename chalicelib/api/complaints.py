"""Routes of complaints: open a case on a customer, list, read, move it along its lifecycle
(models: chalicelib/api/complaints_models.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.clock import utcnow
from chalicelib.domain.complaints import Complaint

if TYPE_CHECKING:
    from chalicelib.api.complaints_models import ComplaintCreate, ComplaintListQuery, ComplaintPatch


def _reply(c: Complaint, status: int = 200, **headers: str) -> Reply:
    return Reply(c.to_dict(utcnow()), status, {"ETag": c.etag, **headers})


def open_complaint(call: Call[ComplaintCreate, None], customer_id: str) -> Reply:
    from chalicelib.services import complaints

    c = complaints.open_case(call.caller, customer_id, call.body.to_domain())
    return _reply(c, 201, Location=f"/complaints/{c.id}")


def get_complaint(call: Call[None, None], complaint_id: str) -> Reply:
    from chalicelib.services import complaints

    return _reply(complaints.get(call.caller, complaint_id))


def patch_complaint(call: Call[ComplaintPatch, None], complaint_id: str) -> Reply:
    from chalicelib.services import complaints

    return _reply(complaints.update(call.caller, complaint_id, call.header("If-Match"), call.body.to_domain()))


def list_complaints(call: Call[None, ComplaintListQuery]) -> Reply:
    from chalicelib.services import complaints

    q = call.query
    values = [v.value if v is not None else None for v in (q.department, q.status, q.severity)]
    department, status, severity = values
    scope = "|".join(map(str, [call.caller.operation, call.caller.branch, q.branch, *values]))
    items, next_key = complaints.list_page(
        call.caller, branch=q.branch, department=department, status=status, severity=severity,
        limit=q.limit, start_key=cursors.decode(q.cursor, scope),
    )
    now = utcnow()
    return Reply({"items": [c.to_dict(now) for c in items], "next_cursor": cursors.encode(next_key, scope)})


ONE = "/complaints/{complaint_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/customers/{customer_id}/complaints", "complaints.create", "Open a complaint for a customer", 201,
               response="ComplaintOut", errors=(400, 401, 403, 404, 409, 413, 415, 422),
               headers=("ETag", "Location")), open_complaint),
    (RouteSpec("GET", "/complaints", "complaints.list", "List complaints by branch, department, status, severity",
               response="ComplaintPage", errors=(400, 401, 403)), list_complaints),
    (RouteSpec("GET", ONE, "complaints.get", "Read a complaint with its history", response="ComplaintOut",
               errors=(400, 401, 403, 404), headers=("ETag",)), get_complaint),
    (RouteSpec("PATCH", ONE, "complaints.update", "Change status (lifecycle), assignee or resolution note; If-Match required",
               response="ComplaintOut", errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)),
     patch_complaint),
]
