"""The staff console in a real browser: Debian's Chromium driven by Playwright, against the local stack as `make run`
starts it (its own ports and state). Each page's screenshot is kept under build/console-screenshots/.

Without Chromium (`make test` installs Debian's package where it can: root and apt, as on CI) these tests are
skipped and say why; with CI=true they fail instead.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.stack_process import ROOT, RunningStack, start_stack, stop_stack_cleanly

CHROMIUM = os.environ.get("RELASI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "build" / "console-screenshots"
PASSWORD = "Relasi-Demo-2026"
TIME_SCALE = 240  # a high complaint's 4 acknowledge hours in 60 s: amber after 30 s, red after 60 s

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package as root")
    pytest.skip(f"the browser tests need Chromium ({CHROMIUM} is missing; `apt-get install chromium` as root, "
                "which `make test` does where it can)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    # campaigns may go out whatever the day and hour the suite runs
    running = start_stack(SEED="none", RELASI_TIME_SCALE=str(TIME_SCALE), RELASI_THROTTLE="off",
                          CAMPAIGN_SEND_DAYS="1-7", CAMPAIGN_SEND_HOURS="0-24", QUIET_HOURS="off")
    yield running
    stop_stack_cleanly(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="id-ID",
                                  timezone_id="Asia/Jakarta")
    opened = context.new_page()
    dialogs: list[str] = []
    opened.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    opened.dialogs = dialogs  # type: ignore[attr-defined]
    yield opened
    context.close()


def _phone() -> str:
    return f"+62812{random.randint(10_000_000, 99_999_999)}"


def _api(stack: RunningStack, method: str, path: str, user: str = "admin", **kw: Any) -> requests.Response:
    r = stack.request(method, path, user, **kw)
    assert r.status_code < 400, (method, path, r.status_code, r.text)
    return r


def _customer(stack: RunningStack, branch: str, name: str | None = None, complaints: int = 0) -> dict[str, Any]:
    made = _api(stack, "POST", "/customers", json={"name": name or f"Pelanggan {random.randint(1000, 9999)}",
                                                   "phone": _phone(), "branch_id": branch}).json()
    for n in range(complaints):
        _api(stack, "POST", f"/customers/{made['id']}/complaints", json={
            "category": "service", "severity": "medium", "subject": f"Keluhan {n + 1}", "description": "Uji"})
    return dict(made)


def _sign_in(page: Page, stack: RunningStack, user: str, path: str) -> None:
    """Open `path` as a bookmark would: the shell sends the browser to sign in, and back."""
    page.goto(stack.base + path)
    page.wait_for_url("**/console/sign-in**")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path.split('?')[0]}**")
    expect(page.locator("#nav .who")).to_contain_text(user)


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_screen_pop_shows_the_own_branch_caller_and_not_another_branch(stack: RunningStack, page: Page) -> None:
    caller = _customer(stack, "bandung", complaints=2)
    other = _customer(stack, "jakarta")
    _sign_in(page, stack, "agent.bandung", f"/console/pop?phone={caller['phone'].replace('+', '%2B')}")
    expect(page.locator("#card h2")).to_have_text(caller["name"])
    expect(page.locator("#open-complaints li.complaint")).to_have_count(2)
    expect(page.locator("#open-complaints .sla").first).to_be_visible()
    _shot(page, "screen-pop")

    page.goto(stack.base + f"/console/pop?phone={other['phone'].replace('+', '%2B')}")
    expect(page.locator("#not-found")).to_be_visible()
    another_branch = page.locator("#content").inner_text()
    assert other["name"] not in page.content()
    page.goto(stack.base + f"/console/pop?phone={_phone().replace('+', '%2B')}")
    expect(page.locator("#not-found")).to_be_visible()
    assert page.locator("#content").inner_text() == another_branch  # exactly like a number nobody has
    _shot(page, "screen-pop-unknown")


def test_recording_an_interaction_puts_it_on_top_of_the_timeline_without_a_page_load(
        stack: RunningStack, page: Page) -> None:
    someone = _customer(stack, "jakarta")
    _sign_in(page, stack, "agent.jakarta", f"/console/customers/{someone['id']}")
    expect(page.locator("#record-form")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")
    page.select_option("#record-form select[name=channel]", "phone")
    page.fill("#record-form input[name=summary]", "Menanyakan jadwal servis berikutnya")
    page.click("#record-form button[type=submit]")
    expect(page.locator("#timeline li").first).to_contain_text("Menanyakan jadwal servis berikutnya")
    assert page.evaluate("window.stillTheSamePage") is True
    stored = _api(stack, "GET", f"/customers/{someone['id']}/interactions").json()["items"]
    assert stored[0]["summary"] == "Menanyakan jadwal servis berikutnya"
    _shot(page, "customer-360")


def test_the_queue_turns_a_critical_complaint_amber_then_red_and_acknowledging_takes_it_off_the_open_list(
        stack: RunningStack, page: Page) -> None:
    someone = _customer(stack, "surabaya")
    # signed in first: a high complaint's 4-hour acknowledge window is 60 s at this scale, amber from 30 s to 60 s
    # (a critical one's 7.5 s of amber passed unseen on a loaded machine)
    _sign_in(page, stack, "agent.surabaya", "/console/complaints?status=open")
    case = _api(stack, "POST", f"/customers/{someone['id']}/complaints", json={
        "category": "shipment", "severity": "high", "subject": "Unit belum datang", "description": "Uji"}).json()
    page.select_option("#queue-filter select[name=status]", "open")  # a change refreshes the rows at once
    row = page.locator(f"#row-{case['id']}")
    expect(row.locator(".sla.sla-amber")).to_be_visible(timeout=50000)
    _shot(page, "queue-amber")
    expect(row.locator(".sla.sla-red")).to_be_visible(timeout=50000)
    _shot(page, "queue-red")
    row.locator("button[name=status][value=acknowledged]").click()
    expect(page.locator(f"#row-{case['id']}")).to_have_count(0, timeout=15000)
    assert _api(stack, "GET", f"/complaints/{case['id']}").json()["status"] == "acknowledged"


def test_an_edit_against_a_stale_etag_shows_the_conflict_and_overwrites_nothing(stack: RunningStack, page: Page) -> None:
    someone = _customer(stack, "bandung")
    _sign_in(page, stack, "agent.bandung", f"/console/customers/{someone['id']}")
    expect(page.locator("#profile input[name=city]")).to_be_visible()
    # someone else changes the customer meanwhile, through the API
    _api(stack, "PATCH", f"/customers/{someone['id']}", headers={"If-Match": '"v1"'}, json={"city": "Cimahi"})
    page.fill("#profile input[name=city]", "Sumedang")
    page.click("#profile button[type=submit]")
    expect(page.locator("#conflict")).to_be_visible()
    _shot(page, "conflict")
    assert _api(stack, "GET", f"/customers/{someone['id']}").json()["city"] == "Cimahi"
    page.click("#conflict button")
    expect(page.locator("#profile input[name=city]")).to_have_value("Cimahi")


def test_a_name_that_is_markup_renders_as_text_and_no_dialog_ever_fires(stack: RunningStack, page: Page) -> None:
    name = "<img src=x onerror=alert(1)>"
    someone = _customer(stack, "jakarta", name=name)
    _sign_in(page, stack, "agent.jakarta", f"/console/customers/{someone['id']}")
    expect(page.locator("#card h2")).to_have_text(name)
    assert page.locator("#content img").count() == 0
    page.goto(stack.base + "/console/search")
    page.fill("input[type=search]", someone["phone"])
    expect(page.locator("#results a").first).to_have_text(name)
    _shot(page, "search")
    page.goto(stack.base + f"/console/pop?phone={someone['phone'].replace('+', '%2B')}")
    expect(page.locator("#card h2")).to_have_text(name)
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_the_analyst_never_reaches_a_customer_page(stack: RunningStack, page: Page) -> None:
    someone = _customer(stack, "jakarta", name="Rahasia Analis")
    _sign_in(page, stack, "analyst", "/console/dashboard")
    expect(page.locator("figure.chart").first).to_be_visible()
    assert "Rahasia Analis" not in page.content()
    nav = page.locator("#nav").inner_text()
    assert "Cari pelanggan" not in nav and "Antrean" not in nav
    _shot(page, "dashboard-analyst")
    page.goto(stack.base + f"/console/customers/{someone['id']}")
    expect(page.locator(".alert-403")).to_be_visible()
    assert "Rahasia Analis" not in page.content()


def test_signing_out_and_going_back_shows_nothing(stack: RunningStack, page: Page) -> None:
    someone = _customer(stack, "bandung", name="Sinta Keluar")
    _sign_in(page, stack, "manager.bandung", f"/console/customers/{someone['id']}")
    expect(page.locator("#card h2")).to_have_text("Sinta Keluar")
    page.goto(stack.base + "/console/dashboard")
    expect(page.locator("figure.chart").first).to_be_visible()
    _shot(page, "dashboard-manager")
    page.click("#sign-out")
    page.wait_for_url("**/console/sign-in**")
    page.go_back()
    page.wait_for_url("**/console/sign-in**")
    assert "Sinta Keluar" not in page.content()
    # and without a token the content is never sent: the same URL as an htmx request answers 401
    r = requests.get(stack.base + f"/console/customers/{someone['id']}", headers={"HX-Request": "true"}, timeout=30)
    assert r.status_code == 401 and "Sinta Keluar" not in r.text


def test_an_expired_session_lands_on_the_sign_in_page_not_on_an_error(stack: RunningStack, page: Page) -> None:
    import base64
    import json
    import time

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    expired = f"{part({'alg': 'RS256'})}.{part({'exp': int(time.time()) - 60, 'token_use': 'id'})}.x"
    page.goto(stack.base + "/console/sign-in")
    _shot(page, "sign-in")
    page.evaluate("t => { sessionStorage.setItem('relasi.idToken', t); sessionStorage.setItem('relasi.seen', '1'); }",
                  expired)
    page.goto(stack.base + "/console/complaints")
    page.wait_for_url("**/console/sign-in?next=%2Fconsole%2Fcomplaints&expired=1")
    expect(page.locator("#sign-in-note")).to_be_visible()
    page.fill("input[name=username]", "agent.jakarta")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/complaints")
    expect(page.locator("#queue-rows")).to_be_visible()


def test_a_screen_pop_opened_in_a_new_tab_uses_the_signed_in_tab_and_consent_then_edit_is_no_conflict(
        stack: RunningStack, page: Page) -> None:
    caller = _customer(stack, "bandung")
    _sign_in(page, stack, "agent.bandung", "/console/search")
    popped = page.context.new_page()  # what a telephony system opens: a new tab, its own session storage
    popped.goto(stack.base + f"/console/pop?phone={caller['phone'].replace('+', '%2B')}")
    expect(popped.locator("#card h2")).to_have_text(caller["name"])
    assert "/sign-in" not in popped.url
    popped.click("#card h2 a")
    consent = popped.locator("#consent form.consent").first
    consent.locator("input[name=source]").fill("telepon")
    consent.locator("button[type=submit]").click()
    expect(popped.locator("#consent .consent-yes").first).to_be_visible()
    popped.fill("#profile input[name=city]", "Cimahi")
    popped.click("#profile button[type=submit]")
    expect(popped.locator("#profile .ok")).to_be_visible()  # the consent's new version reached the form
    assert _api(stack, "GET", f"/customers/{caller['id']}").json()["city"] == "Cimahi"


def test_where_is_my_order_and_moving_it_along_in_the_browser(stack: RunningStack, page: Page) -> None:
    caller = _customer(stack, "surabaya")
    made = stack.request("POST", "/products", "admin", json={
        "sku": "BRW-OIL", "name": "Oli mesin 4 liter", "category": "oil_and_filter", "unit": "package",
        "list_price": "360000"})
    assert made.status_code in (201, 409)  # 409: made by an earlier run of this test on this stack
    order = _api(stack, "POST", f"/customers/{caller['id']}/orders", json={
        "channel": "phone", "promised_date": "2026-12-20", "lines": [{"sku": "BRW-OIL", "qty": 2, "tax_rate": "0.11"}]}
    ).json()
    _sign_in(page, stack, "agent.surabaya", "/console/orders")
    page.fill("input[type=search]", order["order_no"])
    page.locator("#order-results a").first.click()
    expect(page.locator("#net-total")).to_have_text("Rp 799.200")  # 2 x 360.000 + 11%
    page.locator("#order-move button[value=confirmed]").click()
    expect(page.locator(".card").first).to_contain_text("dikonfirmasi")
    assert _api(stack, "GET", f"/orders/{order['id']}").json()["status"] == "confirmed"
    # ship it with a carrier, then record that the courier picked it up
    page.select_option("#ship-form select[name=carrier]", "jne")
    page.fill("#ship-form input[name=tracking_number]", f"JNE{order['id'][-8:]}")
    page.click("#ship-form button")
    expect(page.locator("#shipments .shipment")).to_contain_text("label dibuat")
    page.select_option("#shipments .shipment select[name=status]", "picked_up")
    page.click("#shipments .shipment button")
    expect(page.locator("#shipments .shipment .badge")).to_have_text("diambil kurir")
    _shot(page, "order")
    assert _api(stack, "GET", f"/orders/{order['id']}").json()["status"] == "shipped"


def test_building_a_campaign_checks_its_text_as_typed_previews_it_and_its_report_follows_the_sending(
        stack: RunningStack, page: Page) -> None:
    tag = f"brw{random.randint(10_000, 99_999)}"
    for _ in range(3):
        _api(stack, "POST", "/customers", json={"name": "Ratna Dewi", "phone": _phone(), "branch_id": "surabaya",
                                                "tags": [tag], "consent": {"sms_marketing": {
                                                    "value": True, "source": "form"}}})
    _sign_in(page, stack, "marketing", "/console/campaigns/new")
    page.fill("input[name=name]", "Promo akhir tahun")
    page.check("input[name=branch_in_surabaya]")
    page.fill("input[name=tags_any]", tag)
    page.fill("input[name=holdout_pct]", "0")
    text_id = page.locator("textarea[name=msg_id]")
    text_id.fill("Halo {first_name}! Diskon 🎉 di {branch_name}")
    expect(page.locator(".gsm-check").first).to_contain_text("GSM-7")
    text_id.fill("Halo {first_name}! Diskon servis 20% di {branch_name} sampai 31 Des.")
    expect(page.locator(".gsm-check").first).to_contain_text("/ 160")
    expect(page.locator(".gsm-check").first).to_contain_text("1 SMS")
    page.fill("textarea[name=msg_en]", "Hi {first_name}! 20% off service at {branch_name} until 31 Dec.")
    page.click("#campaign-form button")
    expect(page.locator("#preview-to-send")).to_be_visible()
    preview = int(page.locator("#preview-to-send").inner_text())
    assert 0 < preview <= 3  # the global control group may hold one of the three
    _shot(page, "campaign-builder")
    page.click("#campaign-schedule")
    expect(page.locator("#campaign-status")).not_to_have_text("draf")
    page.locator("#open-report").click()
    expect(page.locator("#report-sent")).to_have_text(str(preview), timeout=60_000)  # the page refreshes itself
    expect(page.locator("#campaign-report .badge").first).to_have_text("selesai", timeout=30_000)
    page.wait_for_timeout(2_000)  # the simulated receipts (infra/receipts.py) follow each message by 0.3 s
    page.reload()
    delivered = int(page.locator("#report-delivered").inner_text())
    undelivered = int(page.locator("#report-undelivered").inner_text().split()[0])
    unknown_and_awaiting = sum(int(n) for n in re.findall(r"\d+", page.locator("#report-unknown").inner_text()))
    assert delivered + undelivered + unknown_and_awaiting == preview  # every message accounted for once
    _shot(page, "campaign-report")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_the_service_desk_finds_a_plate_books_a_slot_checks_the_vehicle_in_and_moves_its_work_order(
        stack: RunningStack, page: Page) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    owner = _customer(stack, "jakarta", name="Budi Bengkel")
    n = random.randint(1000, 9999)
    _api(stack, "POST", f"/customers/{owner['id']}/vehicles", json={
        "vin": f"MHBRWS{random.randint(10**10, 10**11 - 1):011d}", "plate_no": f"B {n} BRW", "make": "Honda",
        "model": "HR-V", "year": 2022, "color": "Merah"})
    _sign_in(page, stack, "agent.jakarta", "/console/service")
    page.fill("#plate-search", f"b{n}brw")
    card = page.locator("#vehicle-card")
    expect(card.locator("#owner")).to_contain_text("Budi Bengkel")
    day = datetime.now(ZoneInfo("Asia/Jakarta")).date() + timedelta(days=50)
    day += timedelta(days=1 if day.weekday() == 6 else 0)
    card.locator("#book-filter input[name=date]").fill(day.isoformat())
    card.locator("#book-filter select[name=service_type]").select_option("inspection")
    shown = card.locator(f"#book-slots table[data-date='{day.isoformat()}'][data-service-type=inspection]")
    slot = shown.locator(f"tr[data-slot='{day.isoformat()}T10:00:00+07:00']")
    expect(slot.locator(".free")).to_have_text("4 / 4")
    slot.locator("button").click()
    expect(page.locator("#booked")).to_be_visible()
    _shot(page, "service-desk-booked")
    booked = _api(stack, "GET", f"/customers/{owner['id']}/appointments").json()["items"]
    assert [(a["status"], a["service_type"]) for a in booked] == [("booked", "inspection")]
    # the vehicle arrives: check it in from the card (a fresh lookup shows the appointment it checks in)
    page.fill("#plate-search", f"B {n} BRW")
    expect(page.locator("#next-appointment")).not_to_contain_text("tidak ada")
    page.fill("#check-in input[name=description_1]", "Servis berkala 20.000 km")
    page.fill("#check-in input[name=amount_1]", "650000")
    page.click("#check-in button")
    expect(page.locator("#status-text")).to_contain_text("Kendaraan Anda sudah kami terima")
    page.locator("#wo-move button[value=in_progress]").click()
    expect(page.locator("#status-text")).to_contain_text("sedang diperiksa")
    page.locator("#wo-move button[value=waiting_approval]").click()
    expect(page.locator("#status-text")).to_contain_text("Rp 650.000")
    page.click("#approve")
    expect(page.locator("#status-text")).to_contain_text("sedang diperbaiki")
    _shot(page, "work-order")
    assert _api(stack, "GET", f"/customers/{owner['id']}/appointments").json()["items"][0]["status"] == "checked_in"
    page.locator("#wo-move button[value=completed]").click()
    expect(page.locator("#status-text")).to_contain_text("siap diambil")
    if stack.request("GET", "/products/SVC-WORKSHOP", "admin").status_code == 404:
        _api(stack, "POST", "/products", json={"sku": "SVC-WORKSHOP", "name": "Jasa bengkel",
                                               "category": "service_package", "unit": "package", "list_price": "0"})
    page.click("#invoice button")
    expect(page.locator("#net-total")).to_have_text("Rp 650.000")  # the order's page: service revenue
    page.goto(stack.base + "/console/service")
    expect(page.locator("#board-rows tr .sla").first).to_be_visible()
    _shot(page, "service-board")


def test_a_customer_answers_a_survey_on_a_phone_and_the_low_score_reaches_the_queue_and_the_dashboard(
        stack: RunningStack, page: Page, browser: Browser) -> None:
    """The survey's link as a customer opens it (no sign-in, a phone's screen): the question, a score of 2 and a
    comment; the follow-up complaint is marked in the branch's queue, the answer shows on the 360 and the
    manager's dashboard counts it."""
    import time

    someone = _customer(stack, "jakarta")
    case = _api(stack, "POST", f"/customers/{someone['id']}/complaints", json={
        "category": "service", "severity": "low", "subject": "Bunyi rem", "description": "Uji"}).json()
    for patch in ({"status": "acknowledged", "assignee": "agent.jakarta"}, {"status": "in_progress"},
                  {"status": "resolved", "resolution_note": "Kampas diganti"}):
        case = _api(stack, "PATCH", f"/complaints/{case['id']}", "agent.jakarta", json=patch,
                    headers={"If-Match": f'"v{case["version"]}"'}).json()
    deadline, link = time.monotonic() + 60, None
    while link is None and time.monotonic() < deadline:  # the SMS as it went out (staff see the link hidden)
        sent = requests.get(f"http://127.0.0.1:{stack.aws_port}/_relasi/outbox", timeout=30).json()["messages"]
        told = [m["text"] for m in sent if "/s/" in m["text"] and case["id"][-8:] in m["text"]]
        link = told[0].rsplit("/s/", 1)[1] if told else None
        time.sleep(0.5)
    assert link, "no survey message"
    phone = browser.new_context(viewport={"width": 390, "height": 780}, locale="id-ID", is_mobile=True)
    customer_page = phone.new_page()
    try:
        customer_page.goto(f"{stack.base}/s/{link}")
        expect(customer_page.locator("legend").first).to_contain_text(f"keluhan {case['id'][-8:]}")
        _shot(customer_page, "survey-page")
        customer_page.check("input[name=csat][value='2']")
        customer_page.fill("textarea[name=comment]", "Masih bunyi setelah dua hari")
        customer_page.click("#survey-send")
        expect(customer_page.locator("#survey-done")).to_be_visible()
        _shot(customer_page, "survey-done")
        customer_page.goto(f"{stack.base}/s/{link}")  # opened again: answered, nothing to change
        expect(customer_page.locator("#survey-answered")).to_be_visible()
    finally:
        phone.close()

    _sign_in(page, stack, "manager.jakarta", "/console/complaints?department=customer_care")
    badge = page.locator(".low-survey")
    for _ in range(30):  # the stream consumer opens the follow-up a moment after the answer
        if badge.count():
            break
        time.sleep(1)
        page.reload()
    expect(badge.first).to_be_visible()
    _shot(page, "queue-low-survey")
    page.goto(f"{stack.base}/console/customers/{someone['id']}")
    expect(page.locator("#timeline li.survey").first).to_contain_text("CSAT 2/5")
    page.goto(f"{stack.base}/console/dashboard?branch=jakarta")
    expect(page.locator(".satisfaction-totals")).to_be_visible()
    expect(page.locator("table.staff")).to_contain_text("agent.jakarta")
    _shot(page, "dashboard-satisfaction")
