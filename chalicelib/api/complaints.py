"""Routes of the complaints area: open a case on a customer, list, read, move along the lifecycle."""

from __future__ import annotations

from typing import Any

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View
from chalicelib.domain.clock import utcnow
from chalicelib.domain.complaints import Complaint


def _services() -> Any:
    from chalicelib.services import complaints

    return complaints


def _reply(c: Complaint, status: int = 200, **headers: str) -> Reply:
    return Reply(c.to_dict(utcnow()), status, {"ETag": c.etag, **headers})


def open_complaint(call: Call, customer_id: str) -> Reply:
    assert call.access is not None
    c = _services().open_case(call.access, customer_id, call.body.model_dump())
    return _reply(c, 201, Location=f"/complaints/{c.id}")


def get_complaint(call: Call, complaint_id: str) -> Reply:
    assert call.access is not None
    return _reply(_services().get(call.access, complaint_id))


def patch_complaint(call: Call, complaint_id: str) -> Reply:
    assert call.access is not None
    patch = {name: getattr(call.body, name) for name in call.fields_sent}
    return _reply(_services().update(call.access, complaint_id, call.header("If-Match"), patch))


def list_complaints(call: Call) -> Reply:
    assert call.access is not None
    q = call.query
    values = [v.value if v is not None else None for v in (q.department, q.status, q.severity)]
    department, status, severity = values
    scope = "|".join(map(str, [call.access.operation, call.access.branch, q.branch, *values]))
    items, next_key = _services().list_page(
        call.access, branch=q.branch, department=department, status=status, severity=severity,
        limit=q.limit, start_key=cursors.decode(q.cursor, scope),
    )
    now = utcnow()
    return Reply({"items": [c.to_dict(now) for c in items], "next_cursor": cursors.encode(next_key, scope)})


ONE = "/complaints/{complaint_id}"
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/customers/{customer_id}/complaints", "complaints.create", "Open a complaint for a customer", 201,
               body="ComplaintCreate", response="ComplaintOut", errors=(400, 401, 403, 404, 409, 413, 415, 422),
               headers=("ETag", "Location")), open_complaint),
    (RouteSpec("GET", "/complaints", "complaints.list", "List complaints by branch, department, status, severity",
               query="ComplaintListQuery", response="ComplaintPage", errors=(400, 401, 403)), list_complaints),
    (RouteSpec("GET", ONE, "complaints.get", "Read a complaint with its history", response="ComplaintOut",
               errors=(400, 401, 403, 404), headers=("ETag",)), get_complaint),
    (RouteSpec("PATCH", ONE, "complaints.update", "Change status (lifecycle), assignee or resolution note; If-Match required",
               body="ComplaintPatch", response="ComplaintOut",
               errors=(400, 401, 403, 404, 409, 412, 413, 415, 428), headers=("ETag",)), patch_complaint),
]
