"""The staff console over HTTP, as htmx calls it (no browser): who gets which page, what a request without a token
gets, the security headers, the static assets, the forms' answers, and the Indonesian formats.
The browser walks the same pages in tests/test_console_browser.py."""

from __future__ import annotations

import re
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.console.i18n import format_datetime, format_money

HX = {"HX-Request": "true"}
FORM = {"Content-Type": "application/x-www-form-urlencoded", **HX}


def _get(api: Any, path: str, token: str | None = None, hx: bool = True) -> Any:
    headers = dict(HX) if hx else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return api.request("GET", path, headers=headers)


def _post(api: Any, path: str, token: str, form: dict[str, str]) -> Any:
    return api.request("POST", path, headers={**FORM, "Authorization": f"Bearer {token}"},
                       body=urllib.parse.urlencode(form).encode())


def _text(response: Any) -> str:
    body = response.body
    return body.decode() if isinstance(body, bytes) else str(body)


@pytest.fixture(scope="module")
def people(as_user: Any) -> dict[str, Any]:
    admin = as_user("admin")
    jakarta = admin.new_customer(name="Dewi Jakarta", branch_id="jakarta")
    surabaya = admin.new_customer(name="Eko Surabaya", branch_id="surabaya")
    complaint = admin.post(f"/customers/{jakarta['id']}/complaints", {
        "category": "billing", "severity": "high", "subject": "Tagihan ganda", "description": "Dua kali"}).json
    admin.post("/products", {"sku": "CON-OIL", "name": "Oli konsol", "category": "oil_and_filter", "unit": "litre",
                             "list_price": "1250000"})
    order = admin.post(f"/customers/{jakarta['id']}/orders", {"channel": "phone", "lines": [
        {"sku": "CON-OIL", "qty": 1}]}).json
    campaign = admin.post("/campaigns", {"name": "Konsol", "channel": "sms", "purpose": "promotion",
                                         "audience": {"branch_in": ["jakarta"], "tags_any": ["console-nobody"]},
                                         "messages": {"id": "Halo {first_name}", "en": "Hi {first_name}"}}).json
    vehicle = admin.post(f"/customers/{jakarta['id']}/vehicles", {
        "vin": f"MHCNSL{abs(hash(jakarta['id'])) % 10**11:011d}", "plate_no": f"B {abs(hash(jakarta['id'])) % 9999 + 1} CNS",
        "make": "Toyota", "model": "Rush", "year": 2023, "color": "Hitam"}).json
    assert "vin" in vehicle, vehicle
    work_order = admin.post(f"/vehicles/{vehicle['vin']}/work-orders", {
        "jobs": [{"description": "Ganti kampas rem", "estimate_amount": "450000"}],
        "eta": (datetime.now(UTC) + timedelta(hours=5)).isoformat()}).json
    return {"jakarta": jakarta, "surabaya": surabaya, "complaint": complaint, "order": order, "campaign": campaign,
            "vehicle": vehicle, "work_order": work_order}


def test_a_plain_navigation_gets_the_shell_without_data_and_with_the_security_headers(api: Any, people: Any) -> None:
    r = _get(api, f"/console/customers/{people['jakarta']['id']}", hx=False)
    assert r.status_code == 200
    page = _text(r)
    assert "Dewi Jakarta" not in page and people["jakarta"]["phone"] not in page
    assert 'hx-get=""' in page and "<script" in page and "onclick" not in page and "<script>" not in page
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("token_of", [None, "garbage", "tampered"])
def test_content_never_goes_to_a_request_without_a_valid_token(api: Any, people: Any, token: Any,
                                                              token_of: str | None) -> None:
    bad = {None: None, "garbage": "not.a.token",
           "tampered": token("agent.jakarta")[:-4] + "AAAA"}[token_of]  # a signature that no longer verifies
    r = _get(api, f"/console/customers/{people['jakarta']['id']}", bad)
    assert r.status_code == 401
    assert "Dewi Jakarta" not in _text(r)


# (path, allowed roles); a scoped role sees its own branch's records, another branch's is "not found"
PAGES = [
    ("/console/nav", {"admin", "manager.jakarta", "agent.jakarta", "marketing", "analyst"}),
    ("/console/search/results?q=dewi", {"admin", "manager.jakarta", "agent.jakarta", "marketing"}),
    ("/console/pop?phone={phone}", {"admin", "manager.jakarta", "agent.jakarta", "marketing"}),
    ("/console/customers/{id}", {"admin", "manager.jakarta", "agent.jakarta", "marketing"}),
    ("/console/complaints/rows", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/dashboard", {"admin", "manager.jakarta", "analyst"}),
    ("/console/orders/{order}", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/orders/results?q={phone}", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/campaigns", {"admin", "marketing"}),
    ("/console/campaigns/{campaign}", {"admin", "marketing"}),
    ("/console/campaigns/{campaign}/report", {"admin", "marketing", "manager.jakarta"}),
    ("/console/service", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/service/plate?plate={plate}", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/service/slots?branch=jakarta", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/service/board?branch=jakarta", {"admin", "manager.jakarta", "agent.jakarta"}),
    ("/console/work-orders/{work_order}", {"admin", "manager.jakarta", "agent.jakarta"}),
]
ROLES = ["admin", "manager.jakarta", "agent.jakarta", "marketing", "analyst"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("path", "allowed"), PAGES, ids=[p for p, _ in PAGES])
def test_each_page_follows_the_permission_matrix(api: Any, token: Any, people: Any, path: str, allowed: set[str],
                                                 role: str) -> None:
    own = people["jakarta"]
    r = _get(api, path.format(id=own["id"], phone=urllib.parse.quote(own["phone"]), order=people["order"]["id"],
                              campaign=people["campaign"]["id"], plate=urllib.parse.quote(people["vehicle"]["plate_no"]),
                              work_order=people["work_order"]["id"]), token(role))
    assert r.status_code == (200 if role in allowed else 403), _text(r)
    if role not in allowed:
        assert "Dewi Jakarta" not in _text(r)


@pytest.mark.parametrize("role", ["manager.jakarta", "agent.jakarta"])
def test_another_branch_is_not_found_exactly_like_a_missing_record(api: Any, token: Any, people: Any,
                                                                   role: str) -> None:
    other = people["surabaya"]
    hidden = _get(api, f"/console/customers/{other['id']}", token(role))
    missing = _get(api, "/console/customers/01ARZ3NDEKTSV4RRFFQ69G5FAV", token(role))
    assert hidden.status_code == missing.status_code == 404
    assert _text(hidden) == _text(missing)
    popped = _get(api, f"/console/pop?phone={urllib.parse.quote(other['phone'])}", token(role))
    nobody = _get(api, f"/console/pop?phone={urllib.parse.quote('+6281299990000')}", token(role))
    # the same page but for the number dialled, which it offers to register
    assert _text(popped).replace(urllib.parse.quote(other["phone"]), "N") == \
        _text(nobody).replace(urllib.parse.quote("+6281299990000"), "N")
    assert "Eko Surabaya" not in _text(popped)
    results = _get(api, "/console/search/results?q=eko", token(role))
    assert "Eko Surabaya" not in _text(results)


def test_a_form_with_bad_input_is_a_422_naming_the_field_and_changes_nothing(api: Any, token: Any, people: Any,
                                                                             as_user: Any) -> None:
    own = people["jakarta"]
    before = as_user("admin").get(f"/customers/{own['id']}/interactions").json["items"]
    r = _post(api, f"/console/customers/{own['id']}/interactions", token("agent.jakarta"),
               {"channel": "pigeon", "direction": "inbound", "kind": "inquiry", "summary": "Halo"})
    assert r.status_code == 422 and "channel" in _text(r)
    assert r.headers["HX-Retarget"] == "#flash"
    assert as_user("admin").get(f"/customers/{own['id']}/interactions").json["items"] == before


def test_an_edit_with_a_stale_etag_answers_the_conflict_and_overwrites_nothing(api: Any, token: Any,
                                                                              as_user: Any) -> None:
    admin = as_user("admin")
    someone = admin.new_customer(name="Rina Kusuma", branch_id="jakarta")
    assert admin.patch(f"/customers/{someone['id']}", {"city": "Depok"}, headers={"If-Match": '"v1"'}).status_code == 200
    r = _post(api, f"/console/customers/{someone['id']}/profile", token("agent.jakarta"),
              {"etag": '"v1"', "name": "Rina Kusuma", "phone": someone["phone"], "city": "Bekasi"})
    assert r.status_code == 412 and 'id="conflict"' in _text(r)
    assert admin.get(f"/customers/{someone['id']}").json["city"] == "Depok"


def test_a_queue_action_on_what_another_person_changed_is_a_conflict(api: Any, token: Any, people: Any,
                                                                    as_user: Any) -> None:
    case = people["complaint"]
    seen = {"seen_status": "open", "seen_assignee": ""}
    admin = as_user("admin")
    assert admin.patch(f"/complaints/{case['id']}", {"assignee": "someone.else"},
                       headers={"If-Match": case_etag(admin, case["id"])}).status_code == 200
    r = _post(api, f"/console/complaints/{case['id']}", token("agent.jakarta"), {**seen, "status": "acknowledged"})
    assert r.status_code == 412
    assert admin.get(f"/complaints/{case['id']}").json["status"] == "open"
    r = _post(api, f"/console/complaints/{case['id']}", token("agent.jakarta"),
              {"seen_status": "open", "seen_assignee": "someone.else", "status": "resolved"})
    assert r.status_code == 409 and "diterima" in _text(r)  # the allowed next states, named
    r = _post(api, f"/console/complaints/{case['id']}", token("agent.jakarta"),
              {"seen_status": "open", "seen_assignee": "someone.else", "status": "acknowledged"})
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "queue-changed"
    assert admin.get(f"/complaints/{case['id']}").json["status"] == "acknowledged"


def test_an_escalation_between_the_read_and_the_write_is_no_conflict(api: Any, token: Any, as_user: Any,
                                                                      stack: dict[str, str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The red clock's moment: the agent clicks as the workflow raises the level (a new version, nothing the agent
    saw). The action reads the complaint again and applies; the escalation stays."""
    import boto3

    from chalicelib.persistence import complaints as repo

    admin = as_user("admin")
    someone = admin.new_customer(branch_id="jakarta")
    case = admin.post(f"/customers/{someone['id']}/complaints", {
        "category": "billing", "severity": "high", "subject": "Tagihan", "description": "Dua kali"}).json
    original, mine = repo.update, threading.get_ident()
    escalated: list[Any] = []

    def escalation_first(old: Any, new: Any) -> None:
        if not escalated and threading.get_ident() == mine:  # as the state machine's L1 step writes it
            escalated.append(boto3.client("dynamodb").update_item(
                TableName=stack["TABLE_NAME"], Key={"pk": {"S": f"X#{case['id']}"}, "sk": {"S": "COMPLAINT"}},
                UpdateExpression="SET escalation_level = :one, breached = :true, version = version + :one",
                ExpressionAttributeValues={":one": {"N": "1"}, ":true": {"BOOL": True}}))
        original(old, new)

    monkeypatch.setattr(repo, "update", escalation_first)
    r = _post(api, f"/console/complaints/{case['id']}", token("agent.jakarta"),
              {"seen_status": "open", "seen_assignee": "", "status": "acknowledged"})
    assert r.status_code == 200 and escalated, _text(r)
    now = admin.get(f"/complaints/{case['id']}").json
    assert (now["status"], now["escalation_level"], now["version"]) == ("acknowledged", 1, 3)


def case_etag(admin: Any, complaint_id: str) -> str:
    return str(admin.get(f"/complaints/{complaint_id}").headers["ETag"])


def test_static_assets_have_content_hashed_names_and_are_cached_for_a_year(api: Any) -> None:
    shell = _text(_get(api, "/console", hx=False))
    assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', shell)
    assert len(assets) == 4  # css, icon, htmx, console.js
    total = 0
    for path in assets:
        r = api.request("GET", path)
        assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"]
        total += len(r.body)
    assert total < 100_000  # a few tens of kilobytes in all (htmx itself is most of it)
    assert api.request("GET", "/console/static/console.0000000000.js").status_code == 404


def test_links_keep_the_stage_the_browser_used() -> None:
    """Behind API Gateway the console is at /<stage>/console/...: every link, asset and redirect keeps that."""
    from types import SimpleNamespace

    from chalicelib.console.frame import render, root_of

    def asked(path: str, route: str) -> Any:
        return SimpleNamespace(context={"path": path, "resourcePath": route}, path=route)

    assert root_of(asked("/api/console/pop", "/console/pop")) == "/api"
    assert root_of(asked("/api/console/customers/01J", "/console/customers/{customer_id}")) == "/api"
    assert root_of(asked("/api/console/pop/", "/console/pop")) == "/api"
    assert root_of(asked("/console/pop", "/console/pop")) == ""
    assert root_of(asked("//evil.example/console/pop", "/console/pop")) == ""  # never another site
    shell = render("shell.html", "id", "/api", title="x", login_url="", client_id="c")
    assert 'data-root="/api"' in shell and 'hx-get="/api/console/nav"' in shell
    assert all(path.startswith("/api/console") for path in re.findall(r'(?:src|href)="(/[^"]*)"', shell))


def test_indonesian_money_and_dates() -> None:
    assert format_money(Decimal("1250000")) == "Rp 1.250.000"
    assert format_money("1250000.5") == "Rp 1.250.000,50"
    assert format_money(None) == ""
    moment = datetime(2026, 12, 2, 7, 5, tzinfo=UTC)  # 14.05 in Jakarta
    assert format_datetime(moment, "id", "Asia/Jakarta") == "2 Des 2026 14.05"
    assert format_datetime("2026-12-02T07:05:00.000Z", "en", "Asia/Jakarta") == "2 Dec 2026 14:05"


def test_english_on_request(api: Any, token: Any) -> None:
    r = api.request("GET", "/console/nav", headers={**HX, "Authorization": f"Bearer {token('agent.jakarta')}",
                                                   "Cookie": "relasi_lang=en"})
    assert "Find a customer" in _text(r) and "Sign out" in _text(r)
    assert "Cari pelanggan" in _text(_get(api, "/console/nav", token("agent.jakarta")))


def test_the_console_home_is_the_first_page_the_role_has(api: Any, token: Any) -> None:
    import json

    for role, page in (("agent.jakarta", "/console/search"), ("analyst", "/console/dashboard")):
        r = _get(api, "/console", token(role))
        assert r.status_code == 200 and json.loads(r.headers["HX-Location"])["path"] == page


def test_an_emptied_optional_field_is_cleared(api: Any, token: Any, as_user: Any) -> None:
    admin = as_user("admin")
    someone = admin.new_customer(name="Joko Widodo", branch_id="jakarta", city="Depok")
    r = _post(api, f"/console/customers/{someone['id']}/profile", token("agent.jakarta"),
              {"etag": '"v1"', "name": "Joko Widodo", "phone": someone["phone"], "city": "", "email": ""})
    assert r.status_code == 200 and "Tersimpan" in _text(r)
    assert admin.get(f"/customers/{someone['id']}").json["city"] is None


def test_registering_a_known_number_names_its_holder_to_who_may_see_them(api: Any, token: Any,
                                                                         people: Any) -> None:
    own = people["jakarta"]
    r = _post(api, "/console/customers", token("agent.jakarta"), {"name": "Dewi Lain", "phone": own["phone"]})
    assert r.status_code == 409 and f"/console/customers/{own['id']}" in _text(r)
    other = people["surabaya"]
    r = _post(api, "/console/customers", token("agent.jakarta"), {"name": "Eko Lain", "phone": other["phone"]})
    assert r.status_code == 409 and other["id"] not in _text(r)


def test_the_order_page_shows_rupiah_and_moves_with_the_etag(api: Any, token: Any, people: Any, as_user: Any) -> None:
    order = people["order"]
    page = _text(_get(api, f"/console/orders/{order['id']}", token("agent.jakarta")))
    assert "Rp 1.250.000" in page and order["order_no"] in page
    found = _text(_get(api, f"/console/orders/results?q={order['order_no'].lower()}", token("agent.jakarta")))
    assert f"/console/orders/{order['id']}" in found and "sedang kami siapkan" in found
    stale = _post(api, f"/console/orders/{order['id']}", token("agent.jakarta"), {"etag": '"v9"', "status": "confirmed"})
    assert stale.status_code == 412
    moved = _post(api, f"/console/orders/{order['id']}", token("agent.jakarta"), {"etag": '"v1"', "status": "confirmed"})
    assert moved.status_code == 200 and "HX-Location" in moved.headers
    assert as_user("admin").get(f"/orders/{order['id']}").json["status"] == "confirmed"


def test_the_order_page_ships_lines_and_records_the_shipments_steps(api: Any, token: Any, as_user: Any) -> None:
    admin = as_user("admin")
    admin.post("/products", {"sku": "CONSOLE-OIL", "name": "Oli konsol", "category": "oil_and_filter",
                             "unit": "litre", "list_price": "90000"})
    customer = admin.new_customer(branch_id="jakarta")
    order = admin.post(f"/customers/{customer['id']}/orders", {"channel": "phone", "lines": [
        {"sku": "CONSOLE-OIL", "qty": 3}]}).json
    admin.patch(f"/orders/{order['id']}", {"status": "confirmed"}, headers={"If-Match": '"v1"'})
    agent = token("agent.jakarta")
    page = _text(_get(api, f"/console/orders/{order['id']}", agent))
    assert 'id="ship-form"' in page and 'name="qty_1" value="3"' in page
    bad = _post(api, f"/console/orders/{order['id']}/shipments", agent,
                 {"carrier": "jne", "tracking_number": "x", "qty_1": "3"})
    assert bad.status_code == 422 and bad.headers.get("HX-Retarget") == "#flash"
    part = _post(api, f"/console/orders/{order['id']}/shipments", agent,
                 {"carrier": "sicepat", "tracking_number": "CONSOLE123", "qty_1": "2"})
    assert part.status_code == 200 and "HX-Location" in part.headers
    page = _text(_get(api, f"/console/orders/{order['id']}", agent))
    assert "SiCepat" in page and "CONSOLE123" in page and "https://sicepat.com/track?awb=CONSOLE123" in page
    assert 'name="qty_1" value="1"' in page  # what is left to ship
    shipment = admin.get(f"/orders/{order['id']}").json["shipments"][0]
    wrong = _post(api, f"/console/shipments/{shipment['id']}/events", agent, {"status": "label_created"})
    assert wrong.status_code == 409
    step = _post(api, f"/console/shipments/{shipment['id']}/events", agent, {"status": "picked_up"})
    assert step.status_code == 200 and "HX-Location" in step.headers
    assert admin.get(f"/shipments/{shipment['id']}").json["status"] == "picked_up"
    outsider = _post(api, f"/console/shipments/{shipment['id']}/events", token("agent.bandung"),
                     {"status": "in_transit"})
    assert outsider.status_code == 404
    marketing = _post(api, f"/console/orders/{order['id']}/shipments", token("marketing"),
                      {"carrier": "jne", "tracking_number": "MKT12345", "qty_1": "1"})
    assert marketing.status_code == 403


def test_the_campaign_builder_saves_the_draft_on_change_and_shows_the_fresh_preview(api: Any, token: Any,
                                                                                   as_user: Any) -> None:
    marketing = token("marketing")
    agent = as_user("agent.bandung")
    tag = f"console-{datetime.now(UTC).strftime('%H%M%S%f')}"
    for _ in range(3):
        agent.new_customer(branch_id="bandung", tags=[tag], consent={
            "sms_marketing": {"value": True, "source": "form"}})
    form = {"name": "Promo konsol", "channel": "sms", "purpose": "promotion", "branch_in_bandung": "1",
            "tags_any": tag, "msg_id": "Halo {first_name}, diskon di {branch_name}", "msg_en": "Hi {first_name}",
            "holdout_pct": "0"}
    made = _post(api, "/console/campaigns", marketing, form)
    assert made.status_code in (200, 204) and "/console/campaigns/" in made.headers.get("HX-Location", ""), _text(made)
    campaign_id = made.headers["HX-Location"].rsplit("/", 1)[1].split('"')[0]
    page = _text(_get(api, f"/console/campaigns/{campaign_id}", marketing))
    to_send = re.search(r'id="preview-to-send">(\d+)<', page)
    assert to_send is not None and int(to_send.group(1)) <= 3 and 'class="gsm"' in page.replace("gsm-check", "")
    bad = _post(api, f"/console/campaigns/{campaign_id}", marketing,
                {**form, "etag": '"v1"', "msg_id": "Promo \U0001F389"})
    assert bad.status_code == 422 and "messages.id" in _text(bad)
    narrowed = _post(api, f"/console/campaigns/{campaign_id}", marketing,
                     {**form, "etag": '"v1"', "tags_any": tag + "-none"})
    assert narrowed.status_code == 200 and 'id="preview-to-send">0<' in _text(narrowed)
    assert as_user("marketing").get(f"/campaigns/{campaign_id}").json["audience"]["tags_any"] == [tag + "-none"]
    stale = _post(api, f"/console/campaigns/{campaign_id}", marketing, {**form, "etag": '"v1"'})
    assert stale.status_code == 412
    # The export's facts: segment, churn band, categories (bought and not), last order and contact days.
    facts = {"rfm_segment_in_at_risk": "1", "rfm_segment_in_cant_lose": "1", "churn_band_in_high": "1",
             "bought_category_in_vehicle": "1", "not_bought_category_in_service_package": "1",
             "last_order_before": "2026-06-01", "last_interaction_after": "2026-01-01"}
    faceted = _post(api, f"/console/campaigns/{campaign_id}", marketing, {**form, "etag": '"v2"', **facts})
    assert faceted.status_code == 200, _text(faceted)
    audience = as_user("marketing").get(f"/campaigns/{campaign_id}").json["audience"]
    assert audience["rfm_segment_in"] == ["at_risk", "cant_lose"] and audience["churn_band_in"] == ["high"]
    assert audience["bought_category_in"] == ["vehicle"] and audience["not_bought_category_in"] == ["service_package"]
    assert audience["last_order_before"] == "2026-06-01" and audience["last_interaction_after"] == "2026-01-01"
    shown = _text(faceted)
    assert 'name="rfm_segment_in_at_risk" value="1" checked' in shown and 'value="2026-06-01"' in shown
    assert 'id="preview-to-send">0<' in shown  # none of the new customers bought a vehicle


def test_the_service_desk_finds_a_plate_books_a_slot_and_moves_a_work_order(api: Any, token: Any, people: Any,
                                                                          as_user: Any) -> None:
    agent = token("agent.jakarta")
    vehicle, wo = people["vehicle"], people["work_order"]
    card = _text(_get(api, f"/console/service/plate?plate={urllib.parse.quote(vehicle['plate_no'].lower())}", agent))
    assert "Dewi Jakarta" in card and vehicle["vin"] in card and f"/console/work-orders/{wo['id']}" in card
    elsewhere = _text(_get(api, f"/console/service/plate?plate={urllib.parse.quote(vehicle['plate_no'])}",
                           token("agent.bandung")))
    nobody = _text(_get(api, "/console/service/plate?plate=B%209999%20QQQ", token("agent.bandung")))
    assert "Dewi Jakarta" not in elsewhere and elsewhere.replace(vehicle["plate_no"], "P") == nobody.replace(
        "B 9999 QQQ", "P")
    day = (datetime.now(UTC) + timedelta(days=45)).date()
    day += timedelta(days=1 if day.weekday() == 6 else 0)
    slots = _text(_get(api, f"/console/service/slots?branch=jakarta&date={day}&service_type=repair"
                            f"&vin={vehicle['vin']}&customer={people['jakarta']['id']}", agent))
    assert "4 / 4" in slots and 'name="slot_start"' in slots
    booked = _post(api, "/console/service/appointments", agent, {
        "vin": vehicle["vin"], "customer": people["jakarta"]["id"], "slot_start": f"{day}T10:00:00+07:00",
        "service_type": "repair"})
    assert booked.status_code == 200 and 'id="booked"' in _text(booked), _text(booked)
    assert as_user("admin").get(f"/customers/{people['jakarta']['id']}/appointments").json["items"][0]["status"] == \
        "booked"
    page = _text(_get(api, f"/console/work-orders/{wo['id']}", agent))
    assert "Kendaraan Anda sudah kami terima" in page and "Rp 450.000" in page
    stale = _post(api, f"/console/work-orders/{wo['id']}", agent, {"etag": '"v9"', "status": "in_progress"})
    assert stale.status_code == 412
    moved = _post(api, f"/console/work-orders/{wo['id']}", agent, {"etag": '"v1"', "status": "in_progress"})
    assert moved.status_code == 200, _text(moved)
    assert as_user("admin").get(f"/work-orders/{wo['id']}").json["stage"] == "inspecting"
    board = _text(_get(api, "/console/service/board?branch=jakarta", agent))
    assert f'id="wo-{wo["id"]}"' in board and 'class="sla' in board
    refused = _post(api, f"/console/vehicles/{vehicle['vin']}/work-orders", agent, {"description_1": "", "eta": ""})
    assert refused.status_code == 422
    early = _post(api, f"/console/work-orders/{wo['id']}/invoice", agent, {})
    assert early.status_code == 409 and as_user("admin").get(f"/work-orders/{wo['id']}").json["invoice_order_id"] is None
