"""Demo data: about 200 customers across the three branches, with 18 months of history.

The company grew: customers joined over the last HISTORY_DAYS (more of them
lately), and each has a way of dealing with it: loyal customers are in touch
every few weeks up to today, regular ones every two or three months, lapsed
ones stopped months ago (churn risk finds them), new ones have just started.
About a third had a complaint, most handled within their SLA, some
acknowledged or resolved late (breached, escalated as the workflow would
have); Surabaya had a run of battery defects last week (anomalies and a
growing root cause). Head office's catalog has 60 products (vehicles, oil
and filters, spare parts, service packages, accessories). Around today:
three birthdays today and a few more
this week, due items in 7 days, tomorrow and today, and a few complaints
opened today that escalate for real.

Built through the same models and use cases the API runs (as the demo
admin and the branches' agents), at the moment each thing happened
(chalicelib/domain/clock.at), so the demo data obeys every rule real data
does. The history is then written in batches (uniqueness is guaranteed here
by construction, and moto makes each transaction copy the table); the
stream consumer counts it like any other change, and a complaint that
arrives already resolved starts no escalation and sends no message. Today's
complaints go through the API's own use case and workflow. Deterministic: the
same seed value gives the same people and the same story.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import complaints as rules
from chalicelib.domain.access import Principal, Role, authorize
from chalicelib.domain.clock import at, iso, parse_iso
from chalicelib.domain.complaints import Complaint, HistoryEntry
from chalicelib.domain.customers import Customer
from chalicelib.domain.interactions import Direction, Interaction, InteractionChannel, InteractionKind
from chalicelib.persistence import complaints as complaints_repo
from chalicelib.persistence import customers as customers_repo
from chalicelib.services import customers, interactions
from infra.demo import BRANCHES

FIRST = ["Budi", "Siti", "Agus", "Dewi", "Rudi", "Ayu", "Hendra", "Rina", "Eko", "Sri", "Wahyu", "Putri",
         "Joko", "Indah", "Bambang", "Lestari", "Andi", "Fitri", "Yusuf", "Maya", "Dimas", "Nur", "Fajar",
         "Ratna", "Teguh", "Wulan", "Arief", "Kartika", "Gilang", "Intan"]
LAST = ["Santoso", "Wijaya", "Kusuma", "Saputra", "Hidayat", "Pratama", "Setiawan", "Nugroho", "Lestari",
        "Siregar", "Nasution", "Halim", "Gunawan", "Susanto", "Purnomo", "Rahayu", "Simanjuntak", "Wibowo",
        "Hakim", "Utami"]
CITIES = {"jakarta": ["Jakarta Selatan", "Jakarta Barat", "Bekasi", "Depok", "Tangerang"],
          "bandung": ["Bandung", "Cimahi", "Sumedang"],
          "surabaya": ["Surabaya", "Sidoarjo", "Gresik"]}
STREETS = ["Jl. Sudirman", "Jl. Thamrin", "Jl. Merdeka", "Jl. Diponegoro", "Jl. Gatot Subroto", "Jl. Asia Afrika"]
TAGS = ["vip", "fleet", "first-car", "motorbike", "trade-in", "referral", "credit"]
SUMMARIES = {
    "sales_talk": ["Asked for a test drive of the new model on Saturday.", "Visited the showroom, compared two variants.",
                   "Follow-up on the credit application documents.", "Asked for a trade-in estimate."],
    "service_talk": ["Called about the next service appointment.", "Asked what the 40.000 km service includes.",
                     "Picked up the car after the periodic service."],
    "inquiry": ["Asked when the ordered vehicle will arrive.", "Asked about the extended warranty.",
                "Asked for the price list of accessories."],
    "feedback": ["Feedback: happy with the service advisor.", "Feedback: the waiting room was too crowded."],
    "other": ["Updated the delivery address.", "Asked for a copy of the invoice."],
}
COMPLAINTS = {  # category -> (subject, description, resolution note)
    "service": [("AC tidak dingin setelah servis", "The air conditioning blows warm air since the last service.",
                 "Refilled the refrigerant and replaced the cabin filter."),
                ("Servis terlambat selesai", "The car was promised for 15:00 and was ready at 19:00.",
                 "Apologised; a free wash voucher; the advisor now calls when a job runs late.")],
    "sales": [("Janji diskon tidak sesuai", "The discount promised at the showroom is not on the invoice.",
               "The invoice was corrected to the promised price.")],
    "billing": [("Tagihan ganda", "Charged twice for the same service.", "The second charge was refunded.")],
    "shipment": [("Mobil terlambat dikirim", "The car was not delivered on the promised date.",
                  "Delivered two days later; the customer got a free first service.")],
    "quality_control": [("Cat mengelupas", "Paint is peeling on the rear bumper after two months.",
                         "The bumper was repainted under warranty.")],
    "other": [("Parkir penuh", "No parking space for customers at the branch.", "Two more bays reserved for customers.")],
}
BATTERY = ("Aki cepat soak", "The battery of a car bought this year is flat every morning.",
           "The battery was replaced under warranty; the batch was reported to QC.")
ADMIN = Principal(sub="seed", username="seed", roles=frozenset({Role.ADMIN}), branch=None)
MARKETING = Principal(sub="seed-marketing", username="marketing", roles=frozenset({Role.MARKETING}), branch=None)

HISTORY_DAYS = 540  # about 18 months
BIRTHDAYS_TODAY = 3
BIRTHDAYS_THIS_WEEK = 5  # more, in the next six days
DUE_AROUND_TODAY = ((7, "service", "Servis berkala 10.000 km"), (1, "installment", "Cicilan mobil ke-12"),
                    (0, "warranty", "Garansi aki berakhir"))
OPEN_TODAY = (("service", "high", "Mesin berbunyi kasar", "The engine makes a knocking noise since yesterday."),
              ("billing", "medium", "Kuitansi belum diterima", "No receipt for last week's payment."),
              ("shipment", "critical", "Unit belum datang", "The car was due today and nobody called."))
LOCAL_ZONE = "Asia/Jakarta"

# The catalog of a vehicle dealer and workshop, in IDR: (sku, name, category, unit, list price, cost price)
CATALOG = [
    *[(f"VEH-{code}", name, "vehicle", "unit", price, round(price * 0.88)) for code, name, price in (
        ("AVZ-G-MT", "Avanza 1.3 G MT", 245_000_000), ("AVZ-G-CVT", "Avanza 1.5 G CVT", 268_500_000),
        ("VLZ-Q-CVT", "Veloz 1.5 Q CVT", 320_000_000), ("RSH-GR-AT", "Rush 1.5 GR Sport AT", 307_000_000),
        ("CLY-G-MT", "Calya 1.2 G MT", 165_000_000), ("AGY-GR-CVT", "Agya 1.2 GR Sport CVT", 196_000_000),
        ("INV-V-AT", "Innova Zenix 2.0 V AT", 468_000_000), ("FTN-VRZ-AT", "Fortuner 2.8 VRZ AT", 660_000_000),
        ("HLX-D-MT", "Hilux 2.4 D-Cab MT", 470_000_000), ("YRS-S-CVT", "Yaris Cross 1.5 S CVT", 383_000_000))],
    *[(f"OIL-{code}", name, "oil_and_filter", unit, price, round(price * 0.7)) for code, name, unit, price in (
        ("0W20-1L", "Oli mesin 0W-20 1 liter", "litre", 95_000), ("0W20-4L", "Oli mesin 0W-20 4 liter", "package", 360_000),
        ("5W30-1L", "Oli mesin 5W-30 1 liter", "litre", 88_000), ("5W30-4L", "Oli mesin 5W-30 4 liter", "package", 335_000),
        ("DSL-7L", "Oli diesel 15W-40 7 liter", "package", 610_000), ("ATF-1L", "Oli transmisi ATF WS 1 liter", "litre", 125_000),
        ("CVT-1L", "Oli CVT FE 1 liter", "litre", 140_000), ("FLT-OIL", "Filter oli", "pcs", 65_000),
        ("FLT-AIR", "Filter udara", "pcs", 145_000), ("FLT-CAB", "Filter kabin AC", "pcs", 120_000),
        ("FLT-FUEL", "Filter solar", "pcs", 235_000), ("COOL-1L", "Air radiator coolant 1 liter", "litre", 70_000))],
    *[(f"PRT-{code}", name, "spare_part", unit, price, round(price * 0.62)) for code, name, unit, price in (
        ("BRK-FRT", "Kampas rem depan", "set", 485_000), ("BRK-RR", "Kampas rem belakang", "set", 395_000),
        ("DSC-FRT", "Piringan cakram depan", "pcs", 820_000), ("SPK-IR", "Busi iridium", "pcs", 165_000),
        ("BAT-55", "Aki 55 Ah bebas rawat", "pcs", 1_350_000), ("BAT-70", "Aki 70 Ah bebas rawat", "pcs", 1_850_000),
        ("WPR-SET", "Karet wiper depan", "set", 210_000), ("BLT-FAN", "Fan belt", "pcs", 375_000),
        ("TMB-BLT", "Timing belt kit", "set", 1_450_000), ("SHK-FRT", "Shock absorber depan", "pcs", 1_150_000),
        ("CLT-KIT", "Kopling set", "set", 2_950_000), ("LMP-H4", "Bohlam lampu utama H4", "pcs", 95_000),
        ("TIR-185", "Ban 185/65 R15", "pcs", 1_050_000), ("TIR-215", "Ban 215/60 R17", "pcs", 1_650_000),
        ("RAD-CAP", "Tutup radiator", "pcs", 85_000))],
    *[(f"SVC-{code}", name, "service_package", unit, price, round(price * 0.55)) for code, name, unit, price in (
        ("10K", "Servis berkala 10.000 km", "package", 650_000), ("20K", "Servis berkala 20.000 km", "package", 1_150_000),
        ("40K", "Servis berkala 40.000 km", "package", 2_250_000), ("AC", "Servis AC lengkap", "package", 850_000),
        ("TUNE", "Tune up mesin", "package", 550_000), ("SPOORING", "Spooring dan balancing", "package", 350_000),
        ("LABOR", "Jasa mekanik per jam", "hour", 175_000), ("BODY-PNL", "Perbaikan bodi dan cat per panel", "package", 1_250_000),
        ("DETAIL", "Cuci dan poles detailing", "package", 750_000), ("INSPECT", "Inspeksi 50 titik", "package", 250_000))],
    *[(f"ACC-{code}", name, "accessory", unit, price, round(price * 0.6)) for code, name, unit, price in (
        ("FILM", "Kaca film premium", "set", 3_500_000), ("MAT", "Karpet dasar 3 baris", "set", 950_000),
        ("CAM", "Kamera mundur", "pcs", 1_250_000), ("DASH", "Kamera dasbor", "pcs", 1_450_000),
        ("RAIN", "Talang air pintu", "set", 450_000), ("BAR", "Roof rail", "set", 2_750_000),
        ("CVR", "Sarung jok kulit sintetis", "set", 2_250_000), ("SNS", "Sensor parkir 4 titik", "set", 1_150_000),
        ("CHG", "Pengisi daya USB-C mobil", "pcs", 175_000), ("PERF", "Pewangi kabin", "pcs", 55_000),
        ("TOW", "Tali derek", "pcs", 185_000), ("KIT", "Kotak P3K dan segitiga pengaman", "set", 295_000),
        ("WHL-17", "Velg racing 17 inci", "set", 9_500_000))],
]


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(["811", "812", "813", "821", "822", "852", "853", "857", "878", "896"])
    return f"0{prefix}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"


def _agent(branch: str) -> Principal:
    username = f"agent.{branch}"
    return Principal(sub=_sub_of(username), username=username, roles=frozenset({Role.AGENT}), branch=branch)


@cache
def _sub_of(username: str) -> str:
    """The demo user's id in the local user pool (infra/demo.py made them first): what the history says they did
    is then theirs, as it is for what they do at the console (staff performance, one row each). Without the pool
    (the seed run on its own): the username."""
    from chalicelib.config import settings

    pool = settings().user_pool_id
    if not pool:
        return username
    import boto3

    try:
        user = boto3.client("cognito-idp").admin_get_user(UserPoolId=pool, Username=username)
    except Exception:  # noqa: BLE001 - no pool or no such user: the username stands for them
        return username
    return next((a["Value"] for a in user.get("UserAttributes", []) if a["Name"] == "sub"), username)


def seed(count: int = 200, seed_value: int = 20261123) -> int:
    """Create `count` customers with their history; returns how many were made."""
    from chalicelib.api.customers_models import CustomerCreate

    rng = random.Random(seed_value)
    create = authorize(ADMIN, "customers.create")
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(LOCAL_ZONE)).date()
    made: list[Customer] = []
    history: list[Interaction] = []
    cases: list[Complaint] = []
    phones: set[str] = set()
    for n in range(count):
        branch = BRANCHES[n % len(BRANCHES)]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        wants_email = rng.random() < 0.7
        # more customers lately: a growing company
        joined = now - timedelta(days=HISTORY_DAYS * rng.random() ** 1.6, minutes=rng.randint(0, 600))
        new = (now - joined).days < 60
        body = {
            "name": f"{first} {last}",
            "phone": _phone(rng),
            "email": f"{first}.{last}{n}@contoh.co.id".lower() if wants_email else None,
            "birthday": _birthday(rng.randint(0, 16000), _birthday_soon(n, today)),
            "gender": rng.choice(["female", "male", "undisclosed"]),
            "address": f"{rng.choice(STREETS)} No. {rng.randint(1, 200)}",
            "city": rng.choice(CITIES[branch]),
            "branch_id": branch,
            "lifecycle_stage": rng.choice(["lead", "prospect"] if new else ["customer", "customer", "customer",
                                                                           "prospect", "inactive"]),
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "preferred_channel": "email" if wants_email and rng.random() < 0.3 and _birthday_soon(n, today) is None
            else "sms",
            "language": "id" if rng.random() < 0.85 else "en",
            "consent": {"sms_marketing": {"value": rng.random() < 0.6 or n < BIRTHDAYS_TODAY + BIRTHDAYS_THIS_WEEK,
                                          "source": "showroom-form"}},
        }
        with at(joined):
            customer = customers.build(create, CustomerCreate.model_validate(body, strict=False).to_domain())
        if customer.phone in phones or customers_repo.find_by("phone", customer.phone):
            continue
        phones.add(customer.phone)
        made.append(customer)
        contacts = _contacts(rng, joined, now, new)
        history += [_interaction(rng, customer, moment) for moment in contacts]
        if not new and rng.random() < 0.33:
            opened = joined + (now - timedelta(days=10) - joined) * rng.random()
            if opened > joined:
                cases.append(_past_complaint(rng, customer, opened, rng.choice(list(COMPLAINTS)), now))
    cases += _battery_defects(rng, [c for c in made if c.branch_id == "surabaya"], now)
    history += _phone_rush(rng, [c for c in made if c.branch_id == "bandung"], now)
    customers_repo.load(made, history)
    complaints_repo.load(cases)
    _surveys(rng, cases, made, now)
    catalog = _catalog(now - timedelta(days=HISTORY_DAYS))
    _orders(rng, [c for c in made if (now - parse_iso(c.created_at)).days > 7], catalog, now)
    first_after_birthdays = BIRTHDAYS_TODAY + BIRTHDAYS_THIS_WEEK
    _due_around(today, made[first_after_birthdays:first_after_birthdays + len(DUE_AROUND_TODAY)])
    _open_today([c for c in made if c.branch_id == b][-1] for b in BRANCHES)
    _campaigns(now)
    _service(made, now, seed_value)
    return len(made)


def _birthday_soon(n: int, today: date) -> date | None:
    """Customer n's birthday if it falls around today: today for the first few, this week for the next."""
    if n < BIRTHDAYS_TODAY:
        return today
    if n < BIRTHDAYS_TODAY + BIRTHDAYS_THIS_WEEK:
        return today + timedelta(days=1 + (n - BIRTHDAYS_TODAY) % 6)
    return None


def _birthday(days_after_1960: int, on: date | None) -> str:
    born = date(1960, 1, 1) + timedelta(days=days_after_1960)
    if on is not None:  # that month and day (in a leap year if it is 29 February)
        born = date(born.year if on.month != 2 or on.day != 29 else 1988, on.month, on.day)
    return born.isoformat()


def _contacts(rng: random.Random, joined: datetime, now: datetime, new: bool) -> list[datetime]:
    """When a customer was in touch: loyal every few weeks up to now, regular every two or three months,
    lapsed ones stopped months ago; new ones a few times since they joined."""
    if new:
        return sorted(joined + (now - joined) * rng.random() for _ in range(rng.randint(1, 3)))
    pattern = rng.choices(["loyal", "regular", "lapsed"], weights=(25, 45, 30))[0]
    gap_days = {"loyal": (10, 40), "regular": (40, 100), "lapsed": (20, 60)}[pattern]
    until = now if pattern != "lapsed" else now - timedelta(days=rng.randint(100, 300))
    moments: list[datetime] = []
    moment = joined + timedelta(hours=rng.randint(1, 48))
    while moment < until and len(moments) < 25:
        moments.append(moment)
        moment += timedelta(days=rng.uniform(*gap_days), minutes=rng.randint(0, 600))
    return moments


def _interaction(rng: random.Random, customer: Customer, moment: datetime, *, channel: str | None = None,
                 kind: str | None = None) -> Interaction:
    """An interaction logged by the customer's branch agent when it happened (through the API's model)."""
    from chalicelib.api.interactions_models import InteractionCreate

    kind = kind or rng.choice([k.value for k in InteractionKind if k.value not in ("complaint_followup", "service_update")])
    entry = InteractionCreate.model_validate({
        "channel": channel or rng.choice([c.value for c in InteractionChannel]),
        "direction": rng.choice([d.value for d in Direction]),
        "kind": kind,
        "summary": rng.choice(SUMMARIES[kind] if kind in SUMMARIES else SUMMARIES["other"]),
        "occurred_at": moment,
    }, strict=False)
    with at(moment):
        made = interactions.build(authorize(_agent(customer.branch_id), "interactions.create"), customer.id,
                                  entry.to_domain())
    made.branch_id = customer.branch_id  # what the API's write stamps (per-branch counters)
    return made


def _past_complaint(rng: random.Random, customer: Customer, opened: datetime, category: str, now: datetime, *,
                    story: tuple[str, str, str] | None = None, severity: str | None = None,
                    quick: bool = False) -> Complaint:
    """A complaint opened at `opened` and taken to resolved (and mostly closed) by the branch's agent through
    the lifecycle rules, each step at its own time. One in five is acknowledged or resolved late; the levels
    the escalation workflow would have reached are in its history. `quick`: handled within a day."""
    from chalicelib.api.complaints_models import ComplaintCreate
    from chalicelib.services import complaints

    subject, description, note = story or rng.choice(COMPLAINTS[category])
    severity = severity or rng.choices(["low", "medium", "high", "critical"], weights=(30, 40, 22, 8))[0]
    agent = _agent(customer.branch_id)
    new = ComplaintCreate.model_validate({"category": category, "severity": severity, "subject": subject,
                                          "description": description}, strict=False).to_domain()
    with at(opened):
        case = complaints.build(authorize(agent, "complaints.create"), customer, new)
    ack_window = parse_iso(case.ack_due_at) - opened
    resolve_window = parse_iso(case.resolve_due_at) - opened
    late = not quick and rng.random() < 0.2
    acknowledged = opened + ack_window * (rng.uniform(1.2, 3.0) if late and rng.random() < 0.5 else rng.uniform(0.1, 0.9))
    resolved = opened + (timedelta(hours=rng.uniform(2, 20)) if quick else
                         resolve_window * (rng.uniform(1.1, 2.5) if late else rng.uniform(0.2, 0.95)))
    resolved = max(resolved, acknowledged + timedelta(minutes=30))
    by = agent.sub
    case = rules.transition(case, "acknowledged", by=by, now=acknowledged)
    case = rules.set_field(case, "assignee", by, by=by, now=acknowledged)
    case = rules.transition(case, "in_progress", by=by, now=acknowledged + timedelta(minutes=5))
    case = rules.set_field(case, "resolution_note", note, by=by, now=resolved)
    case = rules.transition(case, "resolved", by=by, now=resolved)
    closed = resolved + timedelta(days=rng.uniform(1, 5))
    if not quick and closed < now and rng.random() < 0.7:
        case = rules.transition(case, "closed", by=by, now=closed)
    case = _escalations(case, opened, resolve_window)
    return replace(case, updated_at=case.history[-1].at, version=len(case.history))


def _surveys(rng: random.Random, cases: list[Complaint], made: list[Customer], now: datetime) -> None:
    """The satisfaction surveys of the complaints resolved in the last 60 days (the first of each customer's
    weeks; the others' were capped): about 45% answered within two days, lower when the case was resolved
    late, the 0-10 question the first time in the quarter. Loaded answered, as history: nothing is sent again,
    no follow-up opens."""
    from chalicelib.domain import surveys as survey_rules
    from chalicelib.persistence import surveys as surveys_repo
    from chalicelib.workflows.surveys import asked_about

    language = {c.id: c.language for c in made}
    last_sent: dict[str, datetime] = {}
    asked_quarter: dict[str, str] = {}
    loaded = []
    for case in sorted((c for c in cases if c.resolved_at), key=lambda c: str(c.resolved_at)):
        resolved = parse_iso(str(case.resolved_at))
        sent = resolved + timedelta(minutes=rng.randint(1, 90))
        earlier = last_sent.get(case.customer_id)
        if (now - sent).days > 60 or sent > now or (earlier and sent - earlier < timedelta(days=7)):
            continue
        last_sent[case.customer_id] = sent
        quarter = survey_rules.quarter(sent.astimezone(ZoneInfo(LOCAL_ZONE)).date())
        asks_nps = asked_quarter.get(case.customer_id) != quarter
        asked_quarter[case.customer_id] = quarter
        survey = survey_rules.new_survey(asked_about("complaint", case), customer_id=case.customer_id,
                                         language=language.get(case.customer_id, "id"), asks_nps=asks_nps, now=sent)
        answered = sent + timedelta(hours=rng.uniform(0.2, 48))
        if rng.random() < 0.45 and answered < now:
            late = str(case.resolved_at) > case.resolve_due_at
            csat = rng.choices([1, 2, 3, 4, 5], weights=(15, 20, 25, 25, 15) if late else (2, 4, 12, 40, 42))[0]
            nps = min(10, max(0, csat * 2 + rng.randint(-2, 1))) if asks_nps and rng.random() < 0.8 else None
            survey = replace(survey, status="answered", csat=csat, nps=nps, answered_at=iso(answered), version=2)
        loaded.append(survey)
    caps = {s.customer_id: surveys_repo.Cap(s.sent_at, asked_quarter[s.customer_id], 1) for s in loaded}
    surveys_repo.load(loaded, caps)  # the last survey of each customer: the cap holds from it


def _escalations(case: Complaint, opened: datetime, resolve_window: timedelta) -> Complaint:
    """The levels the escalation workflow reaches on a case handled late (workflows/escalation.py's table), as
    its history records them."""
    from chalicelib.persistence.complaints import ESCALATION_BY

    resolved = case.resolved_at or ""
    due = [(1, case.ack_due_at, (case.acknowledged_at or "") > case.ack_due_at),
           (2, case.resolve_due_at, resolved > case.resolve_due_at),
           (3, iso(parse_iso(case.resolve_due_at) + resolve_window), resolved > iso(parse_iso(case.resolve_due_at)
                                                                                   + resolve_window))]
    level = 0
    entries = []
    for reached, when, missed in due:
        if missed:
            entries.append(HistoryEntry(at=when, by=ESCALATION_BY, change="escalation", from_value=f"L{level}",
                                        to_value=f"L{reached}"))
            level = reached
    if not entries:
        return case
    merged = sorted([*case.history, *entries], key=lambda e: e.at)
    return replace(case, escalation_level=level, escalated=True, escalated_at=entries[-1].at, history=merged)


def _battery_defects(rng: random.Random, owners: list[Customer], now: datetime) -> list[Complaint]:
    """Surabaya, the last complete week before yesterday's export: a run of flat batteries from one factory
    batch (QC), each handled within a day: more than the weeks before (a growing root cause in
    GET /analytics/insights) and days far above their norm (anomalies)."""
    zone = ZoneInfo(LOCAL_ZONE)
    yesterday = now.astimezone(zone).date() - timedelta(days=1)
    monday = yesterday - timedelta(days=yesterday.weekday() + 7)
    picked = rng.sample(owners, min(7, len(owners)))
    return [_past_complaint(rng, owner, datetime.combine(monday + timedelta(days=d), time(8), zone)
                            + timedelta(hours=rng.uniform(0, 9)), "quality_control", now, story=BATTERY,
                            severity="medium", quick=True)
            for owner, d in zip(picked, (1, 2, 2, 2, 2, 3, 4), strict=False)]


def _phone_rush(rng: random.Random, owners: list[Customer], now: datetime) -> list[Interaction]:
    """Bandung, four days ago (local), office hours: the phone lines were busy (a recall letter went out): an
    interaction anomaly."""
    zone = ZoneInfo(LOCAL_ZONE)
    opening = datetime.combine(now.astimezone(zone).date() - timedelta(days=4), time(8), zone)
    return [_interaction(rng, owner, opening + timedelta(minutes=rng.randint(0, 480)), channel="phone",
                         kind="inquiry") for owner in rng.sample(owners, min(14, len(owners)))]


def _catalog(since: datetime) -> list[Any]:
    """The dealer's catalog, through the product use case's rules, as head office set it up 18 months ago."""
    from chalicelib.api.products_models import ProductCreate
    from chalicelib.domain import products
    from chalicelib.persistence import products as products_repo

    made = []
    for sku, name, category, unit, price, cost in CATALOG:
        new = ProductCreate.model_validate({"sku": sku, "name": name, "category": category, "unit": unit,
                                            "list_price": str(price), "cost_price": str(cost)}, strict=False)
        made.append(products.create(new.to_domain(), by=ADMIN.sub, now=since))
    products_repo.load(made)
    return made


ORDER_DAYS = 365


def _orders(rng: random.Random, buyers: list[Customer], catalog: list[Any], now: datetime) -> int:
    """About a year of orders: two in five customers bought 1-3 times since they joined (a vehicle now and then,
    mostly parts, oil and services), each taken along its lifecycle at its own times by the branch's agent through
    the order rules: old ones delivered and closed (a few cancelled or returned), recent ones confirmed, shipped or
    still draft, and a few past their promised date. Numbered per branch and year from the branch's own sequence."""
    from chalicelib.domain import orders as order_rules
    from chalicelib.persistence import orders as orders_repo

    by_category: dict[str, list[Any]] = {}
    for product in catalog:
        by_category.setdefault(product.category, []).append(product)
    made: list[Any] = []
    for customer in buyers:
        if rng.random() >= 0.4:
            continue
        joined = max(parse_iso(customer.created_at), now - timedelta(days=ORDER_DAYS))
        for _ in range(rng.randint(1, 3)):
            placed = joined + (now - joined) * rng.random()
            made.append(_order(rng, customer, by_category, placed, now, order_rules))
    made += _worth_a_look(rng, buyers, by_category, now, order_rules)
    numbers: dict[tuple[str, int], list[Any]] = {}
    for order in sorted(made, key=lambda o: o.placed_at):
        numbers.setdefault((order.branch_id, int(order.placed_at[:4])), []).append(order)
    for (branch, year), orders in numbers.items():
        last = orders_repo.next_order_number(branch, year, len(orders))
        for n, order in enumerate(orders, start=last - len(orders) + 1):
            order.order_no = f"{branch[:3].upper()}-{year}-{n:06d}"
    for order in made:
        _shipment_of(rng, order, now)
    orders_repo.load(made)
    from chalicelib.persistence import shipments as shipments_repo

    for order in made:
        if order.shipments:
            shipments_repo.load(order)
    return len(made)


def _worth_a_look(rng: random.Random, buyers: list[Customer], by_category: dict[str, list[Any]], now: datetime,
                  order_rules: Any) -> list[Any]:
    """Per branch, three orders of the last weeks the transaction flags pick up, so the dashboard has something to
    review: a spare part at 40% off its list price, an order placed with the branch agent's own phone, and one
    phone on two customers' orders three days apart."""
    from infra.demo import phone_of

    out = []
    for branch in BRANCHES:
        mine = [c for c in buyers if c.branch_id == branch][:3]
        if len(mine) < 3:
            continue
        cut = _order(rng, mine[0], by_category, now - timedelta(days=12), now, order_rules)
        part = by_category["spare_part"][0]
        lines = [order_rules.line_of(1, order_rules.NewLine(
            sku=part.sku, qty=Decimal(1), unit_price=(part.list_price * Decimal("0.6")).quantize(Decimal("0.01")),
            tax_rate=Decimal("0.11")), name=part.name, unit=part.unit, list_price=part.list_price,
            category=part.category, cost_price=part.cost_price)]
        totals = order_rules.totals_of(lines)
        out.append(replace(cut, lines=lines, subtotal=totals.subtotal, discount_total=totals.discount_total,
                           tax_total=totals.tax_total, net_total=totals.net_total))
        own = _order(rng, mine[1], by_category, now - timedelta(days=6), now, order_rules)
        out.append(replace(own, contact_phone=phone_of(f"agent.{branch}"), placed_with_staff_phone=True))
        first = _order(rng, mine[2], by_category, now - timedelta(days=9), now, order_rules)
        again = _order(rng, mine[0], by_category, now - timedelta(days=6, hours=3), now, order_rules)
        out += [first, replace(again, contact_phone=first.contact_phone)]
    return out


def _shipment_of(rng: random.Random, order: Any, now: datetime) -> None:
    """The shipment of an order that shipped, with the carrier's events up to where it is: delivered ones
    all the way, the rest somewhere on the way (a late one delayed or stuck in transit). Loaded with its events,
    so the stream tells nobody (chalicelib/workflows/shipments.py)."""
    from chalicelib.domain import shipments as rules
    from chalicelib.domain.clock import new_id, parse_iso

    moved = {h.to_value: parse_iso(h.at) for h in order.history if h.change == "status"}
    if "shipped" not in moved:
        return
    shipped_at, delivered_at = moved["shipped"], moved.get("delivered")
    carrier = rng.choice(list(rules.CARRIERS))
    new = rules.NewShipment(carrier=carrier, tracking_number=f"{carrier[:3].upper()}{rng.randrange(10**9, 10**10)}",
                            lines=tuple(rules.ShippedLine(line.line_no, line.qty) for line in order.lines),
                            expected_delivery_date=order.promised_date)
    shipment = rules.new_shipment(order, new, shipment_id=new_id(shipped_at), by=order.created_by, now=shipped_at)
    if delivered_at is not None:
        path = ["label_created", "picked_up", "in_transit", "out_for_delivery", "delivered"]
        end = delivered_at
    else:
        late = order.promised_date is not None and order.promised_date < now.date().isoformat()
        path = ["label_created", "picked_up", "in_transit"] + (
            ["delayed"] if late and rng.random() < 0.5 else
            [] if late else rng.choice([[], ["out_for_delivery"], ["out_for_delivery", "attempted_delivery"],
                                        ["delayed"]]))
        path = path[:rng.randint(1, len(path))] if not late else path
        end = min(now, shipped_at + timedelta(hours=6 * len(path)))
    step = (end - shipped_at) / len(path)
    for n, status in enumerate(path):
        at = shipped_at + step * n
        later = (parse_iso(order.promised_date + "T00:00:00Z") + timedelta(days=rng.randint(2, 5))).date().isoformat() \
            if status == "delayed" and order.promised_date else None
        event = rules.NewEvent(status=status, occurred_at=iso(at), expected_delivery_date=later, event_id=f"seed-{n}")
        if status == "label_created":  # the shipment starts there: its first event is only recorded
            shipment.events.append(rules.Event(event_id="seed-0", status=status, occurred_at=iso(at),
                                               received_at=iso(at), by=f"carrier:{carrier}", applied=True))
            shipment.last_event_at = iso(at)
            continue
        shipment, _ = rules.apply(shipment, event, event_id=f"seed-{n}", by=f"carrier:{carrier}", now=at, strict=True)
        shipment.version += 1
    order.shipments = [shipment]
    order.tracking = f"{carrier}:{shipment.tracking_number}"


def _order(rng: random.Random, customer: Customer, by_category: dict[str, list[Any]], placed: datetime,
           now: datetime, order_rules: Any) -> Any:
    from decimal import Decimal

    from chalicelib.domain.clock import new_id

    category = rng.choices(["vehicle", "spare_part", "oil_and_filter", "service_package", "accessory"],
                           weights=(4, 30, 30, 26, 10))[0]
    picks = rng.sample(by_category[category], 1) + rng.sample(by_category["oil_and_filter"], rng.randint(0, 2))
    lines = [order_rules.line_of(n, order_rules.NewLine(sku=p.sku, qty=Decimal(rng.randint(1, 2) if p.unit != "unit"
                                                                               else 1),
                                                        tax_rate=Decimal("0.11")),
                                 name=p.name, unit=p.unit, list_price=p.list_price, category=p.category,
                                 cost_price=p.cost_price)
             for n, p in enumerate(picks, start=1)]
    totals = order_rules.totals_of(lines)
    agent = _agent(customer.branch_id).sub
    stamp = iso(placed)
    promised = (placed + timedelta(days=rng.randint(3, 21))).date()
    order = order_rules.Order(
        id=new_id(placed), order_no="", customer_id=customer.id, branch_id=customer.branch_id,
        channel=rng.choice(["showroom", "phone", "online", "dealer"]), status="draft", payment_status="unpaid",
        lines=lines, subtotal=totals.subtotal, discount_total=totals.discount_total, tax_total=totals.tax_total,
        net_total=totals.net_total, placed_at=stamp, updated_at=stamp, created_by=agent,
        promised_date=promised.isoformat(), contact_phone=customer.phone,
        history=[order_rules.HistoryEntry(at=stamp, by=agent, change="created", to_value="draft")])
    age = (now - placed).days
    steps = ["confirmed", "shipped", "delivered", "closed"]
    if age < 2:
        steps = [] if rng.random() < 0.5 else ["confirmed"]
    elif promised < now.date() - timedelta(days=1) and rng.random() < 0.12:
        steps = ["confirmed", "shipped"]  # late: past its promised date, not delivered
    elif age < 20:
        steps = steps[:rng.randint(1, 3)]
    elif rng.random() < 0.05:
        steps = ["cancelled"]
    elif rng.random() < 0.04:
        steps = ["confirmed", "shipped", "delivered", "returned"]
    moment = placed
    for step in steps:
        moment = min(moment + timedelta(hours=rng.uniform(2, 96)), now)
        order = order_rules.transition(order, step, by=agent, now=moment, return_reason="damaged")
        if step == "confirmed":
            order = order_rules.pay(order, "paid", by=agent, now=moment)
    return replace(order, updated_at=order.history[-1].at, version=len(order.history))


def _due_around(today: date, owners: list[Customer]) -> None:
    """Due items through the API's use case (reminders.add), one per owner, falling due around today."""
    from chalicelib.api.reminders_models import DueItemCreate
    from chalicelib.services import reminders

    add = authorize(ADMIN, "due_items.create")
    for owner, (days, kind, title) in zip(owners, DUE_AROUND_TODAY, strict=False):
        item = DueItemCreate.model_validate({"kind": kind, "title": title,
                                             "due_date": (today + timedelta(days=days)).isoformat()}, strict=False)
        reminders.add(add, owner.id, item.to_domain())


def _open_today(owners: Iterable[Customer]) -> None:
    """Complaints opened today through the API's use case: the stream consumer confirms them to the customer and
    starts their escalation, as for any new complaint; the first is acknowledged already."""
    from chalicelib.api.complaints_models import ComplaintCreate
    from chalicelib.domain.complaints import ComplaintChanges
    from chalicelib.services import complaints

    for n, (owner, (category, severity, subject, description)) in enumerate(zip(owners, OPEN_TODAY, strict=False)):
        agent = _agent(owner.branch_id)
        new = ComplaintCreate.model_validate({"category": category, "severity": severity, "subject": subject,
                                              "description": description}, strict=False).to_domain()
        case = complaints.open_case(authorize(agent, "complaints.create"), owner.id, new)
        if n == 0:
            complaints.update(authorize(agent, "complaints.update"), case.id, case.etag,
                              ComplaintChanges(sent=frozenset({"status", "assignee"}), status="acknowledged",
                                               assignee=agent.sub))


def _campaigns(now: datetime) -> None:
    """A finished campaign to read (its report: reach, exclusions, delivery, the lift over its holdout from the
    demo orders) and a draft to play with. The finished one was written, scheduled and sent through the real
    use cases and the real sender's steps as of a weekday morning about ten days ago (clock.at), so its report,
    its recipients' rows and the SMS in `make outbox` are what sending makes."""
    from chalicelib.api.campaigns_models import CampaignCreate
    from chalicelib.domain import campaigns as campaign_rules
    from chalicelib.persistence import campaigns as campaigns_repo
    from chalicelib.services import campaigns
    from chalicelib.workflows import campaigns as sending

    access = authorize(MARKETING, "campaigns.create")
    local = now.astimezone(ZoneInfo(LOCAL_ZONE)) - timedelta(days=10)
    while local.weekday() == 6:  # Sunday: no marketing
        local -= timedelta(days=1)
    sent_at = datetime.combine(local.date(), time(10), tzinfo=ZoneInfo(LOCAL_ZONE)).astimezone(UTC)
    with at(sent_at):
        done = campaigns.create(access, CampaignCreate.model_validate({
            "name": "Servis akhir tahun", "channel": "sms", "purpose": "retention", "holdout_pct": 20,
            "audience": {"stage_in": ["customer", "inactive"]},
            "messages": {"id": "Halo {first_name}, servis berkala hemat 15% di {branch_name} sampai akhir bulan.",
                         "en": "Hi {first_name}, 15% off periodic service at {branch_name} until month end."}},
            strict=False).to_domain())
        scheduled = campaign_rules.transition(done, "scheduled", iso(sent_at))
        campaigns_repo.save(scheduled, expected_version=done.version)
        state: dict[str, Any] = {"campaign_id": done.id, "function": "", "send_at": iso(sent_at), "phase": "start",
                                 "source": 0, "cursor": None}
        for _ in range(200):
            state = sending.step(state)
            if state["next"] != "step":
                break
    with at(now - timedelta(hours=2)):
        campaigns.create(access, CampaignCreate.model_validate({
            "name": "Promo oli Januari", "channel": "sms", "purpose": "cross_sell", "holdout_pct": 10,
            "audience": {"branch_in": ["jakarta"], "stage_in": ["customer"]},
            "messages": {"id": "Halo {first_name}, ganti oli di {branch_name} gratis cek aki bulan Januari.",
                         "en": "Hi {first_name}, an oil change at {branch_name} comes with a free battery check."}},
            strict=False).to_domain())


VEHICLE_MODELS = [("Toyota", "Avanza"), ("Toyota", "Innova"), ("Honda", "Brio"), ("Honda", "HR-V"),
                  ("Daihatsu", "Xenia"), ("Mitsubishi", "Xpander"), ("Suzuki", "Ertiga"), ("Toyota", "Rush")]
COLORS = ["Putih", "Hitam", "Silver", "Abu-abu", "Merah", "Biru"]
PLATE_REGION = {"jakarta": "B", "bandung": "D", "surabaya": "L"}
VIN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
APPOINTMENTS_PER_DAY = 2  # per branch, on each of the next WORKSHOP_WEEK open days
WORKSHOP_WEEK = 6
# (status, stage) a branch's demo work orders end in, moved there through the use case one step at a time
WORK_ORDER_STATES = [("new", None), ("in_progress", "inspecting"), ("in_progress", "waiting_approval"),
                     ("in_progress", "waiting_parts"), ("in_progress", "repairing"), ("on_hold", None),
                     ("completed", None), ("closed", None), ("cancelled", None), ("cannot_complete", None)]


def _service(made: list[Customer], now: datetime, seed_value: int) -> None:
    """Vehicles for about half the customers (registered through the use case, owners' branches' plates), a week
    of appointments per branch, and per branch work orders in every state (the closed one invoiced): the service
    desk's demo. The
    appointments and work orders tell their customers what real ones do (`make outbox`)."""
    from chalicelib.api.products_models import ProductCreate
    from chalicelib.domain import products
    from chalicelib.domain.appointments import NewAppointment
    from chalicelib.domain.vehicles import NewVehicle, normalize_plate
    from chalicelib.domain.work_orders import Job, NewWorkOrder, WorkOrderChanges
    from chalicelib.persistence import products as products_repo
    from chalicelib.services import appointments, vehicles, work_orders
    from chalicelib.services.work_orders import INVOICE_SKU_DEFAULT

    rng = random.Random(seed_value + 16)  # the service's own: the rest of the story does not move
    workshop_service = ProductCreate.model_validate({  # what a work order is invoiced as, at its jobs' estimates
        "sku": INVOICE_SKU_DEFAULT, "name": "Jasa bengkel", "category": "service_package", "unit": "package",
        "list_price": "0"}, strict=False)
    products_repo.load([products.create(workshop_service.to_domain(), by=ADMIN.sub, now=now - timedelta(days=30))])
    zone = ZoneInfo(LOCAL_ZONE)
    plates: set[str] = set()
    owned: dict[str, list[tuple[Customer, str]]] = {b: [] for b in BRANCHES}
    for customer in made:
        if rng.random() >= 0.5:
            continue
        make, model = rng.choice(VEHICLE_MODELS)
        while True:
            plate = f"{PLATE_REGION[customer.branch_id]} {rng.randint(1000, 9999)} {''.join(rng.choices('ABCDEFGHJKMNPRSTUVWXYZ', k=3))}"
            if plate not in plates:
                plates.add(plate)
                break
        bought = now.date() - timedelta(days=rng.randint(120, 2000))
        serviced = now.date() - timedelta(days=rng.randint(10, 240))
        new = NewVehicle(vin="MH" + "".join(rng.choices(VIN_LETTERS, k=15)), plate=normalize_plate(plate), make=make,
                         model=model, year=bought.year, color=rng.choice(COLORS), purchase_date=bought.isoformat(),
                         warranty_end=(bought + timedelta(days=3 * 365)).isoformat(),
                         last_service_date=max(serviced, bought).isoformat(),
                         last_odometer_km=rng.randint(3000, 90000))
        agent = _agent(customer.branch_id)
        vehicle = vehicles.create(authorize(agent, "vehicles.create"), customer.id, new)
        owned[customer.branch_id].append((customer, vehicle.vin))
    for branch, fleet in owned.items():
        agent = _agent(branch)
        rng.shuffle(fleet)
        day, booked_days = now.astimezone(zone).date(), 0
        queue = list(fleet[len(WORK_ORDER_STATES):])
        while booked_days < WORKSHOP_WEEK and queue:
            day += timedelta(days=1)
            if day.weekday() == 6:
                continue
            booked_days += 1
            for hour in rng.sample(range(8, 15), APPOINTMENTS_PER_DAY):
                if not queue:
                    break
                customer, vin = queue.pop()
                start = datetime.combine(day, time(hour), tzinfo=zone)
                appointments.book(authorize(agent, "appointments.create"), customer.id,
                                  NewAppointment(vin, start, rng.choice(["periodic", "periodic", "repair", "inspection"]),
                                                 None))
        for (_, vin), (status, stage) in zip(fleet, WORK_ORDER_STATES, strict=False):
            eta = now + timedelta(hours=rng.randint(2, 30))
            with at(now - timedelta(hours=rng.randint(1, 6))):
                wo = work_orders.open_for(authorize(agent, "work_orders.create"), vin, NewWorkOrder(
                    [Job("Servis berkala", Decimal(rng.choice([450000, 650000, 850000]))),
                     Job("Ganti oli dan filter", Decimal("350000"))], eta))
            paths: dict[str, list[dict[str, str]]] = {
                "new": [], "on_hold": [{"status": "on_hold"}], "cancelled": [{"status": "cancelled"}],
                "in_progress": [{"status": "in_progress"}] + ([{"stage": stage}] if stage and stage != "inspecting"
                                                              else []),
                "completed": [{"status": "in_progress"}, {"status": "completed"}],
                "closed": [{"status": "in_progress"}, {"status": "completed"}, {"status": "closed"}],
                "cannot_complete": [{"status": "in_progress"}, {"status": "cannot_complete"}]}
            steps = paths[status]
            for change in steps:
                wo = work_orders.update(authorize(agent, "work_orders.update"), wo.id, wo.etag, WorkOrderChanges(
                    sent=frozenset(change), status=change.get("status"), stage=change.get("stage")))
            if status == "closed":  # picked up and paid: the service revenue counts
                work_orders.invoice(authorize(agent, "work_orders.invoice"), wo.id)
