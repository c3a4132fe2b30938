"""Every route x role x own/other branch, and every route x bad token.

Expected answers come from the permission matrix in docs/security.md:
a role without the operation gets 403; a branch-scoped role reaching a
customer of another branch gets 404 (existence does not leak); writing or
listing outside the own branch is 403.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from typing import Any

import jwt
import pytest

from infra.demo import phone_of
from tests.conftest import Caller, unique_phone

ROLES = ["admin", "manager.jakarta", "agent.jakarta", "marketing", "analyst"]
OWN, OTHER = "jakarta", "surabaya"

# operation -> roles allowed; the scoped ones (manager, agent) only in their branch
ALLOWED = {
    "create": {"admin", "manager.jakarta", "agent.jakarta"},
    "list": {"admin", "manager.jakarta", "agent.jakarta", "marketing"},
    "lookup": {"admin", "manager.jakarta", "agent.jakarta", "marketing"},
    "get": {"admin", "manager.jakarta", "agent.jakarta", "marketing"},
    "patch": {"admin", "manager.jakarta", "agent.jakarta"},
    "delete": {"admin", "manager.jakarta"},
    "add_interaction": {"admin", "manager.jakarta", "agent.jakarta"},
    "interactions": {"admin", "manager.jakarta", "agent.jakarta"},
    "interaction": {"admin", "manager.jakarta", "agent.jakarta"},
    "due_item": {"admin", "manager.jakarta", "agent.jakarta"},
    "timeline": {"admin", "manager.jakarta", "agent.jakarta"},
    "open_complaint": {"admin", "manager.jakarta", "agent.jakarta"},
    "complaints": {"admin", "manager.jakarta", "agent.jakarta"},
    "complaint": {"admin", "manager.jakarta", "agent.jakarta"},
    "move_complaint": {"admin", "manager.jakarta", "agent.jakarta"},
    "churn_risk": {"admin", "manager.jakarta"},
    "anomalies": {"admin", "manager.jakarta", "analyst"},
    "exports": {"admin", "analyst"},
    "backfill": {"admin"},
    "summary": {"admin", "manager.jakarta", "analyst"},
    "insights": {"admin", "manager.jakarta", "analyst"},
    "profitability": {"admin", "manager.jakarta", "analyst"},
    "basket": {"admin", "manager.jakarta", "analyst"},
    "transaction_flags": {"admin", "manager.jakarta", "analyst"},
    "forecast": {"admin", "manager.jakarta", "analyst"},
    "satisfaction": {"admin", "manager.jakarta", "analyst"},
    "staff_performance": {"admin", "manager.jakarta"},
    "create_product": {"admin"},
    "products": {"admin", "manager.jakarta", "agent.jakarta", "marketing"},
    "product": {"admin", "manager.jakarta", "agent.jakarta", "marketing"},
    "patch_product": {"admin"},
    "place_order": {"admin", "manager.jakarta", "agent.jakarta"},
    "customer_orders": {"admin", "manager.jakarta", "agent.jakarta"},
    "orders": {"admin", "manager.jakarta", "agent.jakarta"},
    "order": {"admin", "manager.jakarta", "agent.jakarta"},
    "move_order": {"admin", "manager.jakarta", "agent.jakarta"},
    "ship_order": {"admin", "manager.jakarta", "agent.jakarta"},
    "shipment": {"admin", "manager.jakarta", "agent.jakarta"},
    "shipment_event": {"admin", "manager.jakarta", "agent.jakarta"},
    "create_campaign": {"admin", "marketing"},
    "campaigns": {"admin", "marketing"},
    "campaign": {"admin", "marketing"},
    "patch_campaign": {"admin", "marketing"},
    "preview_campaign": {"admin", "marketing"},
    "background_preview": {"admin", "marketing"},
    "cancel_campaign": {"admin", "marketing"},
    "approve_campaign": {"admin"},
    "test_send": {"admin", "marketing"},
    "campaign_report": {"admin", "marketing", "manager.jakarta"},
    "register_vehicle": {"admin", "manager.jakarta", "agent.jakarta"},
    "customer_vehicles": {"admin", "manager.jakarta", "agent.jakarta"},
    "vehicle": {"admin", "manager.jakarta", "agent.jakarta"},
    "plate_lookup": {"admin", "manager.jakarta", "agent.jakarta"},
    "patch_vehicle": {"admin", "manager.jakarta", "agent.jakarta"},
    "appointment_slots": {"admin", "manager.jakarta", "agent.jakarta"},
    "book_appointment": {"admin", "manager.jakarta", "agent.jakarta"},
    "customer_appointments": {"admin", "manager.jakarta", "agent.jakarta"},
    "appointment": {"admin", "manager.jakarta", "agent.jakarta"},
    "patch_appointment": {"admin", "manager.jakarta", "agent.jakarta"},
    "open_work_order": {"admin", "manager.jakarta", "agent.jakarta"},
    "work_order_board": {"admin", "manager.jakarta", "agent.jakarta"},
    "work_order": {"admin", "manager.jakarta", "agent.jakarta"},
    "patch_work_order": {"admin", "manager.jakarta", "agent.jakarta"},
    "invoice_work_order": {"admin", "manager.jakarta", "agent.jakarta"},
}
WORK_ORDER_OPERATIONS = {"open_work_order", "work_order", "patch_work_order", "invoice_work_order"}
APPOINTMENT_OPERATIONS = {"book_appointment", "customer_appointments", "appointment", "patch_appointment"}
VEHICLE_OPERATIONS = {"register_vehicle", "customer_vehicles", "vehicle", "plate_lookup",
                      "patch_vehicle"} | APPOINTMENT_OPERATIONS | WORK_ORDER_OPERATIONS
CAMPAIGN_OPERATIONS = {op for op in ALLOWED if "campaign" in op or op in ("test_send", "background_preview")}
# the catalog is every branch's; campaigns are head office's (a manager's report shows their branch's numbers)
UNSCOPED = {"create_product", "products", "product", "patch_product"} | CAMPAIGN_OPERATIONS
SCOPED = {"manager.jakarta", "agent.jakarta"}
SUCCESS = {"create": 201, "delete": 204, "add_interaction": 201, "open_complaint": 201, "create_product": 201,
           "place_order": 201, "ship_order": 201, "shipment_event": 201, "create_campaign": 201,
           "background_preview": 404, "register_vehicle": 201,
           "book_appointment": 201, "open_work_order": 201, "invoice_work_order": 201,
           "backfill": 404}  # no such backfill (others: 403 first, whether it exists or not); a small audience is previewed at once: no background preview to read
# Outside the own branch: collection routes refuse (403), record routes hide the record (404).
OUTSIDE = {"create": 403, "list": 403, "complaints": 403, "churn_risk": 403, "anomalies": 403, "orders": 403,
           "summary": 403, "insights": 403, "appointment_slots": 403, "work_order_board": 403,
           "profitability": 403, "basket": 403, "transaction_flags": 403, "forecast": 403,
           "satisfaction": 403, "staff_performance": 403}


_skus = itertools.count(1)
# A campaign whose audience matches nobody (its preview still reads the branch's customers).
CAMPAIGN = {"name": "Matrix", "channel": "sms", "purpose": "promotion",
            "audience": {"branch_in": ["surabaya"], "tags_any": ["auth-matrix-nobody"]},
            "messages": {"id": "Halo {first_name}", "en": "Hi {first_name}"}}


def _vehicle() -> dict[str, Any]:
    n = next(_skus)
    return {"vin": f"MHAUTH{uuid.uuid4().int % 10**11:011d}", "plate_no": f"B {n % 10000} AUT", "make": "Daihatsu",
            "model": "Xenia", "year": 2021, "color": "Putih"}


def _workshop_day(offset: int = 0) -> str:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    day = datetime.now(ZoneInfo("Asia/Jakarta")).date() + timedelta(days=40 + offset)
    return (day + timedelta(days=1 if day.weekday() == 6 else 0)).isoformat()


def _booking(vin: str) -> dict[str, Any]:
    n = next(_skus)  # the matrix books many: one a slot, over the hours and days (4 places each)
    return {"vin": vin, "slot_start": f"{_workshop_day(n // 8 % 40)}T{8 + n % 8:02d}:00:00+07:00",
            "service_type": "periodic"}


def _work_order() -> dict[str, Any]:
    return {"jobs": [{"description": "Ganti oli", "estimate_amount": "350000"}],
            "eta": f"{_workshop_day()}T15:00:00+07:00"}


def _call(caller: Caller, operation: str, customer: dict[str, Any], branch: str, complaint: dict[str, Any]) -> Any:
    cid = customer["id"]
    case = {"category": "sales", "severity": "low", "subject": "late delivery", "description": "order not followed up"}
    entry = {"channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "test drive"}
    calls = {
        "create": lambda: caller.post("/customers", {"name": "M", "phone": unique_phone(), "branch_id": branch}),
        "list": lambda: caller.get(f"/customers?branch={branch}&limit=1"),
        "lookup": lambda: caller.get(f"/customers/lookup?phone={customer['phone'].replace('+', '%2B')}"),
        "get": lambda: caller.get(f"/customers/{cid}"),
        "patch": lambda: caller.patch(f"/customers/{cid}", {"city": "Bogor"}, headers={"If-Match": '"v1"'}),
        "delete": lambda: caller.delete(f"/customers/{cid}"),
        "add_interaction": lambda: caller.post(f"/customers/{cid}/interactions", entry),
        "interactions": lambda: caller.get(f"/customers/{cid}/interactions"),
        "interaction": lambda: caller.get(f"/customers/{cid}/interactions/{customer['interaction_id']}"),
        "due_item": lambda: caller.get(f"/customers/{cid}/due-items/{customer['due_item_id']}"),
        "timeline": lambda: caller.get(f"/customers/{cid}/timeline"),
        "open_complaint": lambda: caller.post(f"/customers/{cid}/complaints", case),
        "complaints": lambda: caller.get(f"/complaints?branch={branch}&limit=1"),
        "complaint": lambda: caller.get(f"/complaints/{complaint['id']}"),
        "move_complaint": lambda: caller.patch(f"/complaints/{complaint['id']}", {"status": "acknowledged"},
                                               headers={"If-Match": '"v1"'}),
        "churn_risk": lambda: caller.get(f"/analytics/churn-risk?branch={branch}&limit=5"),
        "anomalies": lambda: caller.get(f"/analytics/anomalies?branch={branch}"),
        "exports": lambda: caller.get("/analytics/exports?limit=1"),
        "backfill": lambda: caller.get("/analytics/backfills/01NOSUCHBACKFILL0000000000"),
        "summary": lambda: caller.get(f"/analytics/summary?branch={branch}"),
        "insights": lambda: caller.get(f"/analytics/insights?branch={branch}"),
        "profitability": lambda: caller.get(f"/analytics/profitability?branch={branch}"),
        "basket": lambda: caller.get(f"/analytics/basket?branch={branch}"),
        "transaction_flags": lambda: caller.get(f"/analytics/transaction-flags?branch={branch}"),
        "forecast": lambda: caller.get(f"/analytics/forecast?branch={branch}"),
        "satisfaction": lambda: caller.get(f"/analytics/satisfaction?branch={branch}&by=department"),
        "staff_performance": lambda: caller.get(f"/analytics/satisfaction?branch={branch}&by=staff"),
        "create_product": lambda: caller.post("/products", {
            "sku": f"AUTH-{next(_skus)}", "name": "Oli mesin 1L", "category": "oil_and_filter", "unit": "litre",
            "list_price": "85000.00"}),
        "products": lambda: caller.get("/products?category=oil_and_filter&limit=1"),
        "product": lambda: caller.get("/products/AUTH-MATRIX"),
        "patch_product": lambda: caller.patch("/products/AUTH-MATRIX", {"name": "Oli mesin 1 liter"},
                                              headers={"If-Match": "*"}),
        "place_order": lambda: caller.post(f"/customers/{cid}/orders", {
            "channel": "phone", "lines": [{"sku": "AUTH-MATRIX", "qty": 1}]}),
        "customer_orders": lambda: caller.get(f"/customers/{cid}/orders"),
        "orders": lambda: caller.get(f"/orders?branch={branch}&limit=1"),
        "order": lambda: caller.get(f"/orders/{customer['order_id']}"),
        "move_order": lambda: caller.patch(f"/orders/{customer['order_id']}", {"status": "confirmed"},
                                           headers={"If-Match": '"v1"'}),
        "ship_order": lambda: caller.post(f"/orders/{customer['order_id']}/shipments", {
            "carrier": "jne", "tracking_number": f"AUTH{next(_skus)}X{cid[-6:]}", "lines": [{"line_no": 1, "qty": 1}]}),
        "shipment": lambda: caller.get(f"/shipments/{customer['shipment_id']}"),
        "shipment_event": lambda: caller.post(f"/shipments/{customer['shipment_id']}/events", {"status": "picked_up"}),
        "create_campaign": lambda: caller.post("/campaigns", CAMPAIGN),
        "campaigns": lambda: caller.get("/campaigns?limit=1"),
        "campaign": lambda: caller.get(f"/campaigns/{customer['campaign_id']}"),
        "patch_campaign": lambda: caller.patch(f"/campaigns/{customer['campaign_id']}", {"name": "Renamed"},
                                               headers={"If-Match": "*"}),
        "preview_campaign": lambda: caller.post(f"/campaigns/{customer['campaign_id']}/preview"),
        "background_preview": lambda: caller.get(f"/campaigns/{customer['campaign_id']}/preview"),
        "cancel_campaign": lambda: caller.post(f"/campaigns/{customer['campaign_id']}/cancel"),
        "approve_campaign": lambda: caller.post(f"/campaigns/{customer['campaign_id']}/approve"),
        "test_send": lambda: caller.post(f"/campaigns/{customer['campaign_id']}/test-send",
                                         {"addresses": [phone_of("marketing")]}),
        "campaign_report": lambda: caller.get(f"/campaigns/{customer['campaign_id']}/report"),
        "register_vehicle": lambda: caller.post(f"/customers/{cid}/vehicles", _vehicle()),
        "customer_vehicles": lambda: caller.get(f"/customers/{cid}/vehicles"),
        "vehicle": lambda: caller.get(f"/vehicles/{customer['vin']}"),
        "plate_lookup": lambda: caller.get(f"/vehicles/lookup?plate={customer['plate_no'].replace(' ', '%20')}"),
        "patch_vehicle": lambda: caller.patch(f"/vehicles/{customer['vin']}", {"color": "Merah"},
                                              headers={"If-Match": '"v1"'}),
        "appointment_slots": lambda: caller.get(f"/branches/{branch}/appointment-slots?date={_workshop_day()}"),
        "book_appointment": lambda: caller.post(f"/customers/{cid}/appointments", _booking(customer["vin"])),
        "customer_appointments": lambda: caller.get(f"/customers/{cid}/appointments"),
        "appointment": lambda: caller.get(f"/appointments/{customer['appointment_id']}"),
        "patch_appointment": lambda: caller.patch(f"/appointments/{customer['appointment_id']}",
                                                  {"status": "confirmed"}, headers={"If-Match": '"v1"'}),
        "open_work_order": lambda: caller.post(f"/vehicles/{customer['vin']}/work-orders", _work_order()),
        "work_order_board": lambda: caller.get(f"/work-orders?branch={branch}"),
        "work_order": lambda: caller.get(f"/work-orders/{customer['work_order_id']}"),
        "patch_work_order": lambda: caller.patch(f"/work-orders/{customer['work_order_id']}",
                                                 {"status": "in_progress"}, headers={"If-Match": '"v1"'}),
        "invoice_work_order": lambda: caller.post(f"/work-orders/{customer['work_order_id']}/invoice"),
    }
    return calls[operation]()


def _expected(role: str, operation: str, branch: str) -> int:
    if role not in ALLOWED[operation]:
        return 403
    if role in SCOPED and branch != OWN and operation not in UNSCOPED:
        return OUTSIDE.get(operation, 404)
    return SUCCESS.get(operation, 200)


CASES = [(op, role, branch) for op in ALLOWED for role in ROLES for branch in (OWN, OTHER)]


@pytest.mark.parametrize(("operation", "role", "branch"), CASES, ids=[f"{o}-{r}-{b}" for o, r, b in CASES])
def test_route_role_branch(as_user: Any, operation: str, role: str, branch: str) -> None:
    admin = as_user("admin")
    customer = admin.new_customer(branch_id=branch)
    complaint = {"id": "-"}
    if operation in ("product", "patch_product") or "order" in operation:  # the product they read, change, order
        admin.post("/products", {"sku": "AUTH-MATRIX", "name": "Oli mesin", "category": "oil_and_filter",
                                 "unit": "litre", "list_price": "85000.00"})
    if operation in ("order", "move_order", "ship_order", "shipment", "shipment_event"):
        customer["order_id"] = admin.post(f"/customers/{customer['id']}/orders", {
            "channel": "phone", "lines": [{"sku": "AUTH-MATRIX", "qty": 1}]}).json["id"]
    if operation in ("ship_order", "shipment", "shipment_event"):
        admin.patch(f"/orders/{customer['order_id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    if operation in ("shipment", "shipment_event"):
        customer["shipment_id"] = admin.post(f"/orders/{customer['order_id']}/shipments", {
            "carrier": "jne", "tracking_number": f"AUTHS{next(_skus)}X{customer['id'][-6:]}",
            "lines": [{"line_no": 1, "qty": 1}]}).json["id"]
    if operation in CAMPAIGN_OPERATIONS:
        customer["campaign_id"] = admin.post("/campaigns", CAMPAIGN).json["id"]
    if operation in VEHICLE_OPERATIONS - {"register_vehicle"}:
        vehicle = admin.post(f"/customers/{customer['id']}/vehicles", _vehicle()).json
        customer["vin"], customer["plate_no"] = vehicle["vin"], vehicle["plate_no"]
    if operation in APPOINTMENT_OPERATIONS - {"book_appointment"}:
        customer["appointment_id"] = admin.post(f"/customers/{customer['id']}/appointments",
                                                _booking(customer["vin"])).json["id"]
    if operation in WORK_ORDER_OPERATIONS - {"open_work_order"}:
        customer["work_order_id"] = admin.post(f"/vehicles/{customer['vin']}/work-orders", _work_order()).json["id"]
    if operation == "invoice_work_order":  # a completed one, and the catalog's workshop service
        admin.post("/products", {"sku": "SVC-WORKSHOP", "name": "Jasa bengkel", "category": "service_package",
                                 "unit": "package", "list_price": "0"})
        for n, status in enumerate(("in_progress", "completed")):
            admin.patch(f"/work-orders/{customer['work_order_id']}", {"status": status},
                        headers={"If-Match": f'"v{n + 1}"'})
    if "complaint" in operation:
        complaint = admin.post(f"/customers/{customer['id']}/complaints", {
            "category": "sales", "severity": "low", "subject": "s", "description": "d"}).json
    if operation == "interaction":
        customer["interaction_id"] = admin.post(f"/customers/{customer['id']}/interactions", {
            "channel": "visit", "direction": "inbound", "kind": "inquiry", "summary": "test drive"}).json["id"]
    if operation == "due_item":
        customer["due_item_id"] = admin.post(f"/customers/{customer['id']}/due-items", {
            "kind": "service", "title": "Service", "due_date": "2030-01-01"}).json["id"]
    response = _call(as_user(role), operation, customer, branch, complaint)
    expected = _expected(role, operation, branch)
    assert response.status_code == expected, (response.status_code, response.body)
    if expected >= 400:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert customer["name"] not in response.body.decode() and customer["phone"] not in response.body.decode()


# --- tokens -------------------------------------------------------------------

def _moto_signing_key() -> Any:
    from moto.utilities.utils import load_resource

    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(load_resource("cognitoidp/resources/jwks-private.json")))


def _forged(stack: dict[str, str], **overrides: Any) -> str:
    """A token signed with the pool's real key (moto's), with chosen claims."""
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.ap-southeast-3.amazonaws.com/{stack['USER_POOL_ID']}",
        "aud": stack["USER_POOL_CLIENT_ID"],
        "sub": str(uuid.uuid4()),
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        "cognito:username": "admin",
        "cognito:groups": ["admin"],
        "custom:branch": "jakarta",
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, _moto_signing_key(), algorithm="RS256",
                      headers={"kid": "dummy"})


def _bad_tokens(stack: dict[str, str], token: Any) -> dict[str, str | None]:
    import boto3

    from infra.demo import DEMO_PASSWORD

    good = token("admin")
    header, payload, signature = good.split(".")
    access = boto3.client("cognito-idp").admin_initiate_auth(
        UserPoolId=stack["USER_POOL_ID"], ClientId=stack["USER_POOL_CLIENT_ID"], AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "admin", "PASSWORD": DEMO_PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    return {
        "none": None,
        "garbage": "not-a-jwt",
        "tampered-signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "expired": _forged(stack, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "wrong-audience": _forged(stack, aud="another-client"),
        "wrong-issuer": _forged(stack, iss="https://cognito-idp.ap-southeast-3.amazonaws.com/ap-southeast-3_Other"),
        "access-token": access,
        "missing-token-use": _forged(stack, token_use=None),
        "hs256-with-public-key": jwt.encode({"sub": "x", "token_use": "id"}, "secret", algorithm="HS256"),
    }


ROUTES = [
    ("POST", "/customers"),
    ("GET", "/customers"),
    ("GET", "/customers/lookup?phone=081234567890"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("PATCH", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("DELETE", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/interactions"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/interactions"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/interactions/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/timeline"),
    ("POST", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/complaints"),
    ("GET", "/complaints"),
    ("GET", "/complaints/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("PATCH", "/complaints/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/due-items"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/due-items"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/due-items/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("DELETE", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/due-items/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/products"),
    ("GET", "/products"),
    ("GET", "/products/OIL-1L"),
    ("PATCH", "/products/OIL-1L"),
    ("POST", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/orders"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("PATCH", "/orders/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/orders/01HZZZZZZZZZZZZZZZZZZZZZZZ/shipments"),
    ("GET", "/shipments/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/shipments/01HZZZZZZZZZZZZZZZZZZZZZZZ/events"),
    ("POST", "/campaigns"),
    ("GET", "/campaigns"),
    ("GET", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("PATCH", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/preview"),
    ("GET", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/preview"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/schedule"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/pause"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/resume"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/cancel"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/approve"),
    ("POST", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/test-send"),
    ("GET", "/campaigns/01HZZZZZZZZZZZZZZZZZZZZZZZ/report"),
    ("POST", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/vehicles"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/vehicles"),
    ("GET", "/vehicles/lookup?plate=B1234XYZ"),
    ("GET", "/vehicles/MHFXW42G8K1234567"),
    ("PATCH", "/vehicles/MHFXW42G8K1234567"),
    ("GET", "/branches/jakarta/appointment-slots?date=2030-01-07"),
    ("POST", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/appointments"),
    ("GET", "/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/appointments"),
    ("GET", "/appointments/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("PATCH", "/appointments/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/vehicles/MHFXW42G8K1234567/work-orders"),
    ("GET", "/work-orders?branch=jakarta"),
    ("GET", "/work-orders/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("PATCH", "/work-orders/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
    ("POST", "/work-orders/01HZZZZZZZZZZZZZZZZZZZZZZZ/invoice"),
    ("GET", "/analytics/profitability"),
    ("GET", "/analytics/basket"),
    ("GET", "/analytics/transaction-flags"),
    ("GET", "/analytics/forecast"),
    ("GET", "/analytics/satisfaction"),
]


def test_every_protected_route_refuses_missing_and_bad_tokens_with_401(api: Any, stack: dict[str, str], token: Any) -> None:
    failures = []
    for name, bad in _bad_tokens(stack, token).items():
        for method, path in ROUTES:
            headers = {"Content-Type": "application/json"}
            if bad is not None:
                headers["Authorization"] = f"Bearer {bad}"
            r = api.request(method, path, headers=headers, body=b'{"name": "x"}' if method in ("POST", "PATCH") else b"")
            if r.status_code != 401 or r.headers.get("Content-Type") != "application/problem+json":
                failures.append((name, method, path, r.status_code))
    assert failures == []


def test_a_forged_but_well_signed_token_is_accepted_so_the_negative_cases_are_meaningful(api: Any, stack: dict[str, str]) -> None:
    r = api.request("GET", "/customers?limit=1", headers={"Authorization": f"Bearer {_forged(stack)}"})
    assert r.status_code == 200


def test_public_routes_need_no_token(api: Any) -> None:
    assert api.request("GET", "/health").status_code == 200
    assert api.request("GET", "/openapi.json").status_code == 200
    # the carriers' webhook takes no token: its signature (tests/test_shipments.py), without one a 401
    event = b'{"event_id": "e", "tracking_number": "TRK1", "status": "picked_up", "occurred_at": "2026-01-01T00:00Z"}'
    unsigned = api.request("POST", "/carrier-events/jne", headers={"Content-Type": "application/json"}, body=event)
    assert unsigned.status_code == 401 and unsigned.headers["Content-Type"] == "application/problem+json"
    # an opt-out link's page: its signature is the permission; a made-up one is 404, and changes nothing
    assert api.request("GET", "/u/" + "A" * 39).status_code == 404
    assert api.request("POST", "/u/" + "A" * 39).status_code == 404
    # so is a survey's (tests/test_surveys.py: a real one, expired, answered, erased)
    assert api.request("GET", "/s/" + "A" * 55).status_code == 404
    assert api.request("POST", "/s/" + "A" * 55).status_code == 404


@pytest.mark.parametrize("header", [
    "{token}",  # a bare token
    "Basic {token}",
    "Token {token}",
    "Bearer",
    "Bearer {token} {token}",
    "Bearer{token}",
])
def test_only_a_bearer_token_is_accepted(api: Any, token: Any, header: str) -> None:
    r = api.request("GET", "/customers?limit=1", headers={"Authorization": header.format(token=token("admin"))})
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(api: Any, token: Any, scheme: str) -> None:
    r = api.request("GET", "/customers?limit=1", headers={"Authorization": f"{scheme} {token('admin')}"})
    assert r.status_code == 200
