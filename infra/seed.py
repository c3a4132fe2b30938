"""Demo data: about 200 customers across the three branches, with their history.

So that `make trigger JOB=daily-reminders` has someone to remind today (in
Asia/Jakarta): BIRTHDAYS_TODAY customers have their birthday today (with SMS
marketing consent), and DUE_AROUND_TODAY customers have something falling due
in 7 days, tomorrow or today.

Built through the same models and use cases the API runs (as the demo
admin), so the demo data obeys every rule real data does. Deterministic: the
same seed gives the same people.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.access import Principal, Role, authorize
from chalicelib.domain.customers import Customer
from chalicelib.domain.interactions import Direction, Interaction, InteractionChannel, InteractionKind
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
SUMMARIES = [
    "Asked for a test drive of the new model on Saturday.",
    "Called about the next service appointment.",
    "Follow-up on the credit application documents.",
    "Visited the showroom, compared two variants.",
    "Asked when the ordered vehicle will arrive.",
    "Feedback: happy with the service advisor.",
]
ADMIN = Principal(sub="seed", username="seed", roles=frozenset({Role.ADMIN}), branch=None)


def _phone(rng: random.Random) -> str:
    prefix = rng.choice(["811", "812", "813", "821", "822", "852", "853", "857", "878", "896"])
    return f"0{prefix}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"


BIRTHDAYS_TODAY = 3
DUE_AROUND_TODAY = ((7, "service", "Servis berkala 10.000 km"), (1, "installment", "Cicilan mobil ke-12"),
                    (0, "warranty", "Garansi aki berakhir"))
LOCAL_ZONE = "Asia/Jakarta"


def seed(count: int = 200, seed_value: int = 20261123) -> int:
    """Create `count` customers with 0-5 interactions each; returns how many were made.

    Every record is built and validated by the same models and use cases the
    API runs; they are then written in batches (uniqueness is guaranteed here
    by construction), because moto makes each transaction copy the table.
    """
    from chalicelib.api.customers_models import CustomerCreate
    from chalicelib.api.interactions_models import InteractionCreate

    rng = random.Random(seed_value)
    create = authorize(ADMIN, "customers.create")
    add = authorize(ADMIN, "interactions.create")
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo(LOCAL_ZONE)).date()
    made: list[Customer] = []
    history: list[Interaction] = []
    phones: set[str] = set()
    for n in range(count):
        branch = BRANCHES[n % len(BRANCHES)]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        wants_email = rng.random() < 0.7
        body = {
            "name": f"{first} {last}",
            "phone": _phone(rng),
            "email": f"{first}.{last}{n}@contoh.co.id".lower() if wants_email else None,
            "birthday": _birthday(rng.randint(0, 16000), today if n < BIRTHDAYS_TODAY else None),
            "gender": rng.choice(["female", "male", "undisclosed"]),
            "address": f"{rng.choice(STREETS)} No. {rng.randint(1, 200)}",
            "city": rng.choice(CITIES[branch]),
            "branch_id": branch,
            "lifecycle_stage": rng.choice(["lead", "prospect", "customer", "customer", "customer", "inactive"]),
            "tags": rng.sample(TAGS, rng.randint(0, 2)),
            "preferred_channel": "email" if wants_email and rng.random() < 0.3 else "sms",
            "language": "id" if rng.random() < 0.85 else "en",
            "consent": {"sms_marketing": {"value": rng.random() < 0.6 or n < BIRTHDAYS_TODAY,
                                          "source": "showroom-form"}},
        }
        customer = customers.build(create, CustomerCreate.model_validate(body, strict=False).to_domain())
        if customer.phone in phones or customers_repo.find_by("phone", customer.phone):
            continue
        phones.add(customer.phone)
        made.append(customer)
        for _ in range(rng.randint(0, 5)):
            when = now - timedelta(days=rng.randint(0, 365), minutes=rng.randint(0, 600))
            entry = InteractionCreate.model_validate({
                "channel": rng.choice([c.value for c in InteractionChannel]),
                "direction": rng.choice([d.value for d in Direction]),
                "kind": rng.choice([k.value for k in InteractionKind]),
                "summary": rng.choice(SUMMARIES),
                "occurred_at": when,
            }, strict=False)
            entry_made = interactions.build(add, customer.id, entry.to_domain())
            entry_made.branch_id = customer.branch_id  # what the API's write stamps (per-branch counters)
            history.append(entry_made)
    customers_repo.load(made, history)
    _due_around(today, made[BIRTHDAYS_TODAY:BIRTHDAYS_TODAY + len(DUE_AROUND_TODAY)])
    return len(made)


def _birthday(days_after_1960: int, today: date | None) -> str:
    born = date(1960, 1, 1) + timedelta(days=days_after_1960)
    if today is not None:  # today's month and day (in a leap year if today is 29 February)
        born = date(born.year if today.month != 2 or today.day != 29 else 1988, today.month, today.day)
    return born.isoformat()


def _due_around(today: date, owners: list[Customer]) -> None:
    """Due items through the API's use case (reminders.add), one per owner, falling due around today."""
    from chalicelib.api.reminders_models import DueItemCreate
    from chalicelib.services import reminders

    add = authorize(ADMIN, "due_items.create")
    for owner, (days, kind, title) in zip(owners, DUE_AROUND_TODAY, strict=False):
        item = DueItemCreate.model_validate({"kind": kind, "title": title,
                                             "due_date": (today + timedelta(days=days)).isoformat()}, strict=False)
        reminders.add(add, owner.id, item.to_domain())
