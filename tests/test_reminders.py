"""Reminders: the rules (pure), the due items API, and the daily job with the real ASL in moto's engine.

The workflow tests create customers and due items through the API, call
`chalicelib.workflows.reminders.run(day, fired_at)` as the schedule does (twice
for the same day, as a double fire would), wait for the executions it started
and read what moto's SNS and SES recorded. Each test uses its own days
(birthday month-days and due dates no other test uses), since the session's
table is shared.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from chalicelib import aws
from chalicelib.domain import reminders as rules
from chalicelib.domain.consent import Consent, Purpose
from chalicelib.domain.reminders import Contact, DueItem, Reminder, ReminderKind
from chalicelib.workflows import reminders
from tests.test_api_customers import _problem
from tests.test_stream import Stream, deliver, emails_to, sms_to

WIB = ZoneInfo("Asia/Jakarta")
ASL = json.loads(reminders.ASL_FILE.read_text())
EXECUTION_TIMEOUT_S = 30.0
CONSENT_SMS = {"sms_marketing": {"value": True, "source": "showroom-form"}}
NO_CONSENT_SMS = {"sms_marketing": {"value": False, "source": "showroom-form"}}


def _wib(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock(hour, minute), tzinfo=WIB)


def _due(item_id: str = "01JDUE0000000000000000000A", due_date: str = "2026-11-30", *, amount: float | None = None,
         title: str = "Servis berkala 10.000 km") -> DueItem:
    return DueItem(id=item_id, customer_id="01JCUST000000000000000000A", kind="service", title=title,
                   due_date=due_date, created_at="2026-11-01T00:00:00.000Z", created_by="staff", amount=amount)


# --------------------------------------------------------------------------
# Who is due, and when: pure rules
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "month_days"), [
    (date(2026, 3, 11), ("03-11",)),
    (date(2025, 2, 28), ("02-28", "02-29")),  # common year: 29 Feb birthdays on 28 Feb
    (date(2027, 2, 28), ("02-28", "02-29")),
    (date(2100, 2, 28), ("02-28", "02-29")),  # divisible by 100, not by 400: common
    (date(2024, 2, 28), ("02-28",)),  # leap year: they have their day tomorrow
    (date(2000, 2, 28), ("02-28",)),  # divisible by 400: leap
    (date(2024, 2, 29), ("02-29",)),
    (date(2025, 3, 1), ("03-01",)),
    (date(2026, 12, 31), ("12-31",)),
])
def test_birthday_month_days(day: date, month_days: tuple[str, ...]) -> None:
    assert rules.birthday_month_days(day) == month_days


@pytest.mark.parametrize(("birthday", "day", "greeted"), [
    ("1992-02-29", date(2025, 2, 28), True),
    ("1992-02-29", date(2025, 3, 1), False),
    ("1992-02-29", date(2024, 2, 28), False),
    ("1992-02-29", date(2024, 2, 29), True),
    ("1990-02-28", date(2024, 2, 28), True),
    ("1990-02-28", date(2025, 2, 28), True),
    ("1990-03-11", date(2026, 3, 11), True),
    ("1990-03-11", date(2026, 3, 12), False),
])
def test_greeted_on(birthday: str, day: date, greeted: bool) -> None:
    assert rules.greeted_on(birthday, day) is greeted


def test_due_dates_are_the_offsets_ahead() -> None:
    assert rules.due_dates(date(2026, 11, 23)) == {date(2026, 11, 30): 7, date(2026, 11, 24): 1, date(2026, 11, 23): 0}
    assert rules.due_dates(date(2026, 12, 28)) == {date(2027, 1, 4): 7, date(2026, 12, 29): 1, date(2026, 12, 28): 0}
    assert rules.due_dates(date(2025, 2, 22), (7, 3, 3)) == {date(2025, 3, 1): 7, date(2025, 2, 25): 3}
    with pytest.raises(ValueError):
        rules.due_dates(date(2026, 11, 23), (1, -1))


def test_a_reminder_has_one_key_per_customer_reminder_and_day() -> None:
    day = date(2026, 11, 23)
    greeting = Reminder(ReminderKind.BIRTHDAY, "01JCUST000000000000000000A", day)
    due = Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day, _due())
    keys = {greeting.key, due.key, Reminder(ReminderKind.BIRTHDAY, "01JCUST000000000000000000A", day + timedelta(1)).key,
            Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day, _due("01JDUE0000000000000000000B")).key}
    assert len(keys) == 4
    assert greeting.key == "reminder#2026-11-23#01JCUST000000000000000000A#birthday"
    assert (greeting.purpose, due.purpose) == (Purpose.MARKETING, Purpose.SERVICE)
    assert (greeting.ref, due.ref, due.days_before) == ("birthday", "01JDUE0000000000000000000A", 7)
    with pytest.raises(ValueError):
        Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day)


@pytest.mark.parametrize(("local", "quiet"), [
    (clock(8, 0), False), (clock(12, 0), False), (clock(20, 59, 59), False),
    (clock(21, 0), True), (clock(23, 59, 59), True), (clock(0, 0), True), (clock(3, 0), True),
    (clock(7, 59, 59, 999999), True),
])
def test_quiet_hours_are_21_to_8_local(local: clock, quiet: bool) -> None:
    assert rules.in_quiet_hours(local) is quiet


def test_quiet_hours_that_do_not_cross_midnight_or_are_empty() -> None:
    assert rules.in_quiet_hours(clock(1, 0), 1, 5) and not rules.in_quiet_hours(clock(5, 0), 1, 5)
    assert not rules.in_quiet_hours(clock(0, 30), 1, 5)
    assert not rules.in_quiet_hours(clock(3, 0), 8, 8)


@pytest.mark.parametrize(("fired", "expected"), [
    (_wib(date(2026, 11, 23), 8), _wib(date(2026, 11, 23), 8)),  # the schedule's time: at once
    (_wib(date(2026, 11, 23), 20, 59), _wib(date(2026, 11, 23), 20, 59)),
    (_wib(date(2026, 11, 23), 21), _wib(date(2026, 11, 24), 8)),  # 21:00 is quiet
    (_wib(date(2026, 11, 23), 22), _wib(date(2026, 11, 24), 8)),
    (_wib(date(2026, 12, 31), 23, 30), _wib(date(2027, 1, 1), 8)),  # over the year's end
    (_wib(date(2026, 11, 23), 0, 0), _wib(date(2026, 11, 23), 8)),
    (_wib(date(2026, 11, 23), 7, 59), _wib(date(2026, 11, 23), 8)),
])
def test_a_run_in_the_quiet_hours_sends_at_eight(fired: datetime, expected: datetime) -> None:
    after = rules.send_after(fired.astimezone(UTC), WIB)
    assert after == expected and after.tzinfo == UTC


@pytest.mark.parametrize(("fired", "now", "starts"), [
    # in the cloud the schedule's time is now: 08:00 at once, 22:00 waits for 08:00
    (_wib(date(2026, 11, 23), 8), _wib(date(2026, 11, 23), 8), _wib(date(2026, 11, 23), 8)),
    (_wib(date(2026, 11, 23), 22), _wib(date(2026, 11, 23), 22), _wib(date(2026, 11, 24), 8)),
    # delivered late (a retry): the wait is over, or what is left of it
    (_wib(date(2026, 11, 23), 8), _wib(date(2026, 11, 23), 8, 5), _wib(date(2026, 11, 23), 8, 5)),
    (_wib(date(2026, 11, 23), 22), _wib(date(2026, 11, 24), 1), _wib(date(2026, 11, 24), 8)),
    # `make trigger` for another day: as if fired at 08:00 then, so at once; as if at 22:00, 10 h from now
    (_wib(date(2027, 2, 28), 8), _wib(date(2026, 11, 23), 22, 40), _wib(date(2026, 11, 23), 22, 40)),
    (_wib(date(2025, 2, 28), 8), _wib(date(2026, 11, 23), 22, 40), _wib(date(2026, 11, 23), 22, 40)),
    (_wib(date(2027, 2, 28), 22), _wib(date(2026, 11, 23), 12), _wib(date(2026, 11, 23), 22)),
])
def test_sending_starts_after_the_wait_the_runs_time_calls_for(fired: datetime, now: datetime, starts: datetime) -> None:
    assert rules.sending_starts(fired.astimezone(UTC), now.astimezone(UTC), WIB) == starts


def test_send_after_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        rules.send_after(datetime(2026, 11, 23, 22), WIB)


def _contact(channel: str = "sms", email: str | None = "budi@contoh.co.id", **consent: bool) -> Contact:
    return Contact(customer_id="01JCUST000000000000000000A", phone="+6281234567890", email=email,
                   preferred_channel=channel, language="id", version=1,
                   consent={k: Consent(v, "2026-01-01T00:00:00.000Z", "form") for k, v in consent.items()})


# kind, preferred channel, consent, has email, opted out -> (channel, skip reason)
MATRIX = [
    # birthday greetings are marketing: consent for the channel, and never to a STOP number
    ("birthday", "sms", {"sms_marketing": True}, True, False, ("sms", None)),
    ("birthday", "sms", {"sms_marketing": False}, True, False, (None, "no_sms_marketing_consent")),
    ("birthday", "sms", {}, True, False, (None, "no_sms_marketing_consent")),
    ("birthday", "sms", {"email_marketing": True}, True, False, (None, "no_sms_marketing_consent")),
    ("birthday", "sms", {"sms_marketing": True}, True, True, (None, "sms_opted_out")),
    ("birthday", "email", {"email_marketing": True}, True, False, ("email", None)),
    ("birthday", "email", {"email_marketing": True}, True, True, ("email", None)),  # STOP is about SMS
    ("birthday", "email", {"sms_marketing": True}, True, False, (None, "no_email_marketing_consent")),
    ("birthday", "email", {"email_marketing": True}, False, False, (None, "no_email_address")),
    # due-date reminders are service messages: no marketing consent needed, STOP still counts
    ("due", "sms", {}, True, False, ("sms", None)),
    ("due", "sms", {"sms_marketing": False}, True, False, ("sms", None)),
    ("due", "sms", {"sms_marketing": True}, True, True, (None, "sms_opted_out")),
    ("due", "email", {}, True, False, ("email", None)),
    ("due", "email", {"email_marketing": False}, True, True, ("email", None)),
    ("due", "email", {}, False, False, (None, "no_email_address")),
]


@pytest.mark.parametrize(("kind", "channel", "consent", "has_email", "opted_out", "expected"), MATRIX)
def test_consent_and_opt_out_matrix(kind: str, channel: str, consent: dict[str, bool], has_email: bool,
                                    opted_out: bool, expected: tuple[str | None, str | None]) -> None:
    day = date(2026, 11, 23)
    reminder = (Reminder(ReminderKind.BIRTHDAY, "01JCUST000000000000000000A", day) if kind == "birthday"
                else Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day, _due()))
    contact = _contact(channel, "budi@contoh.co.id" if has_email else None, **consent)
    route = rules.decide(reminder, contact, sms_opted_out=opted_out)
    assert (route.channel, route.skip_reason) == expected
    if route.channel:
        assert route.address == ("+6281234567890" if route.channel == "sms" else "budi@contoh.co.id")


def test_greeting_texts_in_both_languages_tell_sms_readers_how_to_stop() -> None:
    greeting = Reminder(ReminderKind.BIRTHDAY, "01JCUST000000000000000000A", date(2026, 11, 23))
    sms_id = rules.message(greeting, "id", "sms")
    assert sms_id.text == ("Relasi: Selamat ulang tahun! Semoga sehat, bahagia dan sukses selalu. Terima kasih telah "
                           "menjadi pelanggan kami. Balas STOP untuk berhenti.")
    email_en = rules.message(greeting, "en", "email")
    assert email_en.subject == "Happy birthday from Relasi"
    assert email_en.text == ("Relasi: Happy birthday! Wishing you health, happiness and success. Thank you for being "
                             "our customer.")
    assert rules.message(greeting, "jv", "sms").text == sms_id.text  # unknown language: Indonesian
    assert rules.SMS_TYPES[greeting.purpose] == "Promotional"


def test_due_reminder_texts_name_the_item_the_date_and_the_amount() -> None:
    day = date(2026, 11, 23)
    t7 = Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day,
                  _due(due_date="2026-11-30", amount=1_500_000, title="Cicilan ke-3 dari 12"))
    assert rules.message(t7, "id", "sms").text == (
        "Relasi: Pengingat, Cicilan ke-3 dari 12 jatuh tempo dalam 7 hari, 30 November 2026 (Rp 1.500.000). "
        "Abaikan pesan ini bila sudah diselesaikan. Terima kasih.")
    t1 = Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day,
                  _due(due_date="2026-11-24", amount=250_000.5, title="Installment 3 of 12"))
    en = rules.message(t1, "en", "email")
    assert en.subject == "Reminder: Installment 3 of 12, due 24 November 2026"
    assert en.text == ("Relasi: Reminder, Installment 3 of 12 is due tomorrow, 24 November 2026 (Rp 250,000.50). "
                       "Please ignore this message if it is already settled. Thank you.")
    t0 = Reminder(ReminderKind.DUE, "01JCUST000000000000000000A", day, _due(due_date="2026-11-23"))
    assert "jatuh tempo hari ini, 23 November 2026." in rules.message(t0, "id", "sms").text  # no amount
    assert rules.format_amount(0, "id") == "Rp 0"
    assert rules.format_amount(1234567.05, "id") == "Rp 1.234.567,05"
    assert rules.format_date(date(2027, 8, 17), "id") == "17 Agustus 2027"
    assert rules.SMS_TYPES[t0.purpose] == "Transactional"


def test_execution_names_and_inputs() -> None:
    keys = [{"pk": f"C#01JCUST{n:019d}", "sk": f"I#2026-11-23T01:00:00.000Z#01JINT{n:020d}"} for n in range(200)]
    name = reminders.execution_name(date(2026, 11, 23), 3, keys)
    assert re.fullmatch(r"reminders-2026-11-23-0003-[0-9a-f]{16}", name) and len(name) <= 80
    assert reminders.execution_name(date(2026, 11, 23), 3, keys) == name  # deterministic
    assert reminders.execution_name(date(2026, 11, 23), 3, keys[:-1]) != name
    assert reminders.execution_name(date(2026, 11, 23), 4, keys) != name
    payload = reminders.execution_input(keys, send_after=datetime(2026, 11, 23, 1, tzinfo=UTC), table="relasi-dev",
                                        sender="no-reply@relasi.example", day=date(2026, 11, 23))
    assert set(payload) == {"day", "table", "sender", "send_after", "pace_seconds", "items"}
    assert payload["send_after"] == "2026-11-23T01:00:00.000Z"
    # a full execution's input is a small fraction of Step Functions' 256 KB payload limit
    assert len(json.dumps(payload)) < 32 * 1024
    assert reminders.slot_seconds(200) == 10  # 200 messages at 20 a second


def test_the_schedule_fires_at_eight_jakarta_time_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import app
    from chalicelib import config

    (job,) = [s for s in app.app.event_sources if getattr(s, "name", "") == "daily-reminders"]
    assert job.schedule_expression.to_string() == "cron(0 1 * * ? *)"

    monkeypatch.delenv("REMINDERS_LOCAL_HOUR", raising=False)
    monkeypatch.setenv("TIMEZONE", "Asia/Jakarta")
    assert config.reminders_cron_utc() == (0, 1)
    monkeypatch.setenv("REMINDERS_LOCAL_HOUR", "6")
    assert config.reminders_cron_utc() == (0, 23)  # 06:00 WIB is 23:00 UTC the day before
    monkeypatch.setenv("TIMEZONE", "Asia/Kolkata")
    monkeypatch.setenv("REMINDERS_LOCAL_HOUR", "8")
    assert config.reminders_cron_utc() == (30, 2)
    monkeypatch.setenv("REMINDERS_LOCAL_HOUR", "24")
    with pytest.raises(ValueError):
        config.reminders_cron_utc()


def test_a_schedule_event_runs_the_local_day() -> None:
    assert reminders.fired("2026-11-23T01:00:00Z") == (date(2026, 11, 23), datetime(2026, 11, 23, 1, tzinfo=UTC))
    assert reminders.fired("2026-11-22T20:00:00Z")[0] == date(2026, 11, 23)  # 03:00 WIB


def test_the_asl_is_a_valid_closed_graph_that_runs_no_code() -> None:
    from chalicelib.config import REMINDERS_SEND_CONCURRENCY

    def graph(states: dict[str, Any], start: str) -> None:
        edges: dict[str, set[str]] = {}
        for name, state in states.items():
            targets = {state[k] for k in ("Next", "Default") if k in state}
            targets |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
            assert targets <= set(states), (name, targets - set(states))
            edges[name] = targets
            assert "lambda" not in state.get("Resource", "")
            if state["Type"] == "Map":
                graph(state["ItemProcessor"]["States"], state["ItemProcessor"]["StartAt"])
        reached, frontier = set(), [start]
        while frontier:
            name = frontier.pop()
            if name not in reached:
                reached.add(name)
                frontier += edges[name]
        assert reached == set(states)

    graph(ASL["States"], ASL["StartAt"])
    assert ASL["States"]["Send each"]["MaxConcurrency"] == REMINDERS_SEND_CONCURRENCY

    from cfnlint.api import lint
    from cfnlint.config import ManualArgs

    template = {"Resources": {"Reminders": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "RoleArn": "arn:aws:iam::123456789012:role/reminders", "Definition": ASL}}}}
    assert [m.message for m in lint(json.dumps(template), config=ManualArgs(regions=["ap-southeast-3"]))] == []


def test_the_state_machine_role_reaches_customer_items_sms_and_the_sender_only() -> None:
    import yaml

    from infra.provision import TEMPLATE

    resources = yaml.safe_load(TEMPLATE.read_text())["Resources"]
    assert resources["ReminderStateMachine"]["Metadata"]["DefinitionFile"] == "chalicelib/workflows/reminders.asl.json"
    (policy,) = resources["ReminderStateMachineRole"]["Properties"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"ReadAndMarkCustomerMessages", "SmsToPhoneNumbersNeedResourceStar",
                               "EmailFromTheSenderIdentity", "WorkflowKey", "DeliverErrorLogs"}
    table = statements["ReadAndMarkCustomerMessages"]
    assert table["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert table["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["C#*"]}}
    assert statements["SmsToPhoneNumbersNeedResourceStar"]["Action"] == "sns:Publish"
    assert statements["EmailFromTheSenderIdentity"]["Action"] == "ses:SendEmail"
    env = resources["DailyReminders"]["Properties"]["Environment"]["Variables"]
    assert env["REMINDER_STATE_MACHINE_ARN"] == {"Ref": "ReminderStateMachine"}


# --------------------------------------------------------------------------
# Due items through the API
# --------------------------------------------------------------------------


@pytest.fixture
def agent(as_user: Any) -> Any:
    return as_user("agent.jakarta")


def _item(**fields: Any) -> dict[str, Any]:
    return {"kind": "installment", "title": "Cicilan ke-3 dari 12", "due_date": "2031-05-20", "amount": 1500000,
            **fields}


def _raw(stack: dict[str, str], pk: str, sk: str) -> dict[str, Any] | None:
    from boto3.dynamodb.types import TypeDeserializer

    raw = boto3.client("dynamodb").get_item(TableName=stack["TABLE_NAME"], Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                            ConsistentRead=True).get("Item")
    return {k: TypeDeserializer().deserialize(v) for k, v in raw.items()} if raw else None


def _index(stack: dict[str, str], index: str, key: str, value: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    items = boto3.client("dynamodb").query(
        TableName=stack["TABLE_NAME"], IndexName=index, KeyConditionExpression="#k = :v",
        ExpressionAttributeNames={"#k": key}, ExpressionAttributeValues={":v": {"S": value}})["Items"]
    return [{k: TypeDeserializer().deserialize(v) for k, v in i.items()} for i in items]


def test_due_items_are_created_listed_soonest_first_and_deleted(agent: Any, stack: dict[str, str]) -> None:
    customer = agent.new_customer()
    base = f"/customers/{customer['id']}/due-items"
    r = agent.post(base, _item(ref="INV-2031-05"))
    assert r.status_code == 201, r.body
    first = r.json
    assert r.headers["Location"] == f"{base}/{first['id']}"
    assert {k: first[k] for k in ("customer_id", "kind", "title", "due_date", "amount", "ref")} == {
        "customer_id": customer["id"], "kind": "installment", "title": "Cicilan ke-3 dari 12",
        "due_date": "2031-05-20", "amount": 1500000, "ref": "INV-2031-05"}
    assert first["created_by"] and first["created_at"].endswith("Z")
    sooner = agent.post(base, {"kind": "service", "title": "  Servis 10.000 km  ", "due_date": "2031-01-02"}).json
    assert sooner["title"] == "Servis 10.000 km" and sooner["amount"] is None and sooner["ref"] is None
    later = agent.post(base, {"kind": "warranty", "title": "Garansi mesin berakhir", "due_date": "2033-12-31",
                              "amount": 0.5}).json
    listed = agent.get(base)
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json["items"]] == [sooner["id"], first["id"], later["id"]]

    # Stored under the customer, outside the I#..PROFILE range, and in the due_by_date index.
    raw = _raw(stack, f"C#{customer['id']}", f"D#{first['id']}")
    assert raw is not None and raw["type"] == "due_item"
    assert (raw["due_pk"], raw["due_sk"]) == ("DUE#2031-05-20", f"{customer['id']}#{first['id']}")
    assert (raw["contact_phone"], raw["contact_channel"], raw["contact_version"]) == (customer["phone"], "sms", 1)
    assert not "I#" <= raw["sk"] <= "PROFILE"
    assert [i["id"] for i in _index(stack, "due_by_date", "due_pk", "DUE#2031-05-20")
            if i["customer_id"] == customer["id"]] == [first["id"]]
    # The customer's history is unaffected.
    assert agent.get(f"/customers/{customer['id']}/interactions").json["items"] == []

    assert agent.delete(f"{base}/{first['id']}").status_code == 204
    _problem(agent.delete(f"{base}/{first['id']}"), 404)
    _problem(agent.delete(f"{base}/not-an-id"), 404)
    assert [i["id"] for i in agent.get(base).json["items"]] == [sooner["id"], later["id"]]


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "x", "due_date": "2031-01-01"}, "kind"),
    (_item(kind="loan"), "kind"),
    (_item(title=""), "title"),
    (_item(title="   "), "title"),
    (_item(title="x" * 201), "title"),
    (_item(due_date="2031-02-30"), "due_date"),
    (_item(due_date="20310101"), "due_date"),
    (_item(due_date="1999-12-31"), "due_date"),
    (_item(due_date=None), "due_date"),
    (_item(amount=-1), "amount"),
    (_item(amount=10.005), "amount"),
    (_item(amount="100"), "amount"),
    (_item(amount=True), "amount"),
    (_item(amount=1e13), "amount"),
    (_item(ref="r" * 101), "ref"),
    (_item(staff="me"), "*"),  # an unknown field: never echoed
])
def test_due_item_validation(agent: Any, body: dict[str, Any], field: str) -> None:
    customer = agent.new_customer()
    problem = _problem(agent.post(f"/customers/{customer['id']}/due-items", body), 400)
    assert problem["errors"][0]["field"].startswith(field), problem


def test_due_items_are_per_branch_and_role(as_user: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer()
    base = f"/customers/{customer['id']}/due-items"
    item = agent.post(base, _item()).json
    other = as_user("agent.bandung")
    _problem(other.post(base, _item()), 404)
    _problem(other.get(base), 404)
    _problem(other.delete(f"{base}/{item['id']}"), 404)
    for role in ("marketing", "analyst"):
        _problem(as_user(role).get(base), 403)
        _problem(as_user(role).post(base, _item()), 403)
    _problem(agent.get("/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ/due-items"), 404)
    assert as_user("manager.jakarta").get(base).json["items"][0]["id"] == item["id"]
    assert as_user("admin").delete(f"{base}/{item['id']}").status_code == 204


def test_erasing_a_customer_erases_their_due_items(as_user: Any, stack: dict[str, str]) -> None:
    admin = as_user("admin")
    customer = admin.new_customer(branch_id="jakarta")
    item = admin.post(f"/customers/{customer['id']}/due-items", _item(due_date="2032-02-02")).json
    assert admin.delete(f"/customers/{customer['id']}").status_code == 204
    assert _raw(stack, f"C#{customer['id']}", f"D#{item['id']}") is None
    assert [i for i in _index(stack, "due_by_date", "due_pk", "DUE#2032-02-02") if i["customer_id"] == customer["id"]] == []


def test_profiles_with_a_birthday_are_in_the_birthdays_index(agent: Any, stack: dict[str, str]) -> None:
    with_birthday = agent.new_customer(birthday="1988-10-05")
    without = agent.new_customer()
    assert _raw(stack, f"C#{with_birthday['id']}", "PROFILE")["bday_pk"] == "BDAY#10-05"  # type: ignore[index]
    assert "bday_pk" not in _raw(stack, f"C#{without['id']}", "PROFILE")  # type: ignore[operator]
    moved = agent.patch(f"/customers/{with_birthday['id']}", {"birthday": "1988-10-06"}, headers={"If-Match": '"v1"'})
    assert moved.status_code == 200, moved.body
    assert with_birthday["id"] in [i["id"] for i in _index(stack, "birthdays", "bday_pk", "BDAY#10-06")]
    assert with_birthday["id"] not in [i["id"] for i in _index(stack, "birthdays", "bday_pk", "BDAY#10-05")]


# --------------------------------------------------------------------------
# The daily job with the real ASL in moto's engine
# --------------------------------------------------------------------------


def _arn(name: str) -> str:
    from chalicelib.config import settings
    from chalicelib.workflows.escalation import execution_arn

    return execution_arn(settings().reminder_state_machine_arn, name)


def _finished(name: str) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while True:
        execution = sfn.describe_execution(executionArn=_arn(name))
        if execution["status"] != "RUNNING":
            return dict(execution)
        assert time.monotonic() < deadline, f"execution still running after {EXECUTION_TIMEOUT_S} s"
        time.sleep(0.1)


def _messages(caller: Any, customer: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """The customer's outbound timeline entries: (delivery, reason, summary), oldest first."""
    items = caller.get(f"/customers/{customer['id']}/timeline?limit=100").json["items"]
    return [(i["delivery"], i["reason"], i["summary"]) for i in reversed(items)
            if i["type"] == "interaction" and i["direction"] == "outbound"]


def _outbound_items(stack: dict[str, str], customer: dict[str, Any]) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    raw = boto3.client("dynamodb").query(
        TableName=stack["TABLE_NAME"], KeyConditionExpression="pk = :pk AND begins_with(sk, :i)",
        ExpressionAttributeValues={":pk": {"S": f"C#{customer['id']}"}, ":i": {"S": "I#"}}, ConsistentRead=True)
    return [{k: TypeDeserializer().deserialize(v) for k, v in i.items()} for i in raw["Items"]]


@pytest.fixture
def day_run(stack: dict[str, str]) -> Any:
    aws.forget_clients()
    return reminders.run


def test_the_daily_job_greets_and_reminds_exactly_once(as_user: Any, stack: dict[str, str], day_run: Any) -> None:
    from chalicelib.persistence import consent as opt_outs

    agent = as_user("agent.jakarta")
    day = date(2026, 3, 11)
    greeted = agent.new_customer(birthday="1990-03-11", consent=CONSENT_SMS)
    no_consent = agent.new_customer(birthday="1985-03-11", consent=NO_CONSENT_SMS)
    email = f"{uuid.uuid4().hex[:10]}@contoh.co.id"
    by_email = agent.new_customer(birthday="1979-03-11", preferred_channel="email", email=email, language="en",
                                  consent={"email_marketing": {"value": True, "source": "web"}})
    stopped = agent.new_customer(birthday="1995-03-11", consent=CONSENT_SMS)
    opt_outs.set_sms_opt_out(stopped["phone"], True, at="2026-01-01T00:00:00.000Z", source="sms-reply")
    dues = agent.new_customer(language="en")
    not_today = agent.new_customer(birthday="1990-03-12", consent=CONSENT_SMS)

    def due(customer: dict[str, Any], due_date: str, title: str, **extra: Any) -> dict[str, Any]:
        r = agent.post(f"/customers/{customer['id']}/due-items",
                       {"kind": "installment", "title": title, "due_date": due_date, **extra})
        assert r.status_code == 201, r.body
        return dict(r.json)

    due(no_consent, "2026-03-11", "Servis berkala 10.000 km")  # T-0: a service message needs no marketing consent
    due(stopped, "2026-03-12", "Servis berkala 20.000 km")  # T-1, but the number said STOP
    due(dues, "2026-03-18", "Installment 3 of 12", amount=1500000)  # T-7
    due(dues, "2026-03-12", "Installment 2 of 12", amount=250000.5)  # T-1
    due(dues, "2026-03-11", "Warranty ends")  # T-0
    due(dues, "2026-03-14", "Not yet (T-3)")
    due(dues, "2026-03-19", "Not yet (T-8)")
    due(dues, "2026-03-10", "Past (T+1)")

    first = day_run(day, _wib(day, 8).astimezone(UTC))
    second = day_run(day, _wib(day, 8, 5).astimezone(UTC))  # the schedule fired twice

    assert (first.reminders_due, first.pending, first.skipped, first.already_decided) == (9, 6, 3, 0)
    assert first.skip_reasons == {"no_sms_marketing_consent": 1, "sms_opted_out": 2}
    assert (second.reminders_due, second.pending, second.skipped, second.already_decided) == (9, 0, 0, 9)
    assert len(first.executions) == 1 and second.executions == first.executions
    # items read: 9 index items (one per reminder) + 1 STOP-list entry found (looked up once per run);
    # requests: 4 Query (BDAY#03-11, DUE# at T-7, T-1, T-0) + 2 BatchGetItem (STOP list) + 4 (earlier claims)
    assert (first.items_read, first.read_requests) == (10, 10)
    assert (second.items_read, second.read_requests) == (19, 10)  # + the 9 claims of the first run
    execution = _finished(first.executions[0])
    assert execution["status"] == "SUCCEEDED", execution
    outcomes = json.loads(execution["output"])
    assert sorted(o["outcome"] for o in outcomes) == ["sent"] * 6

    assert sms_to(greeted["phone"]) == [
        "Relasi: Selamat ulang tahun! Semoga sehat, bahagia dan sukses selalu. Terima kasih telah menjadi "
        "pelanggan kami. Balas STOP untuk berhenti."]
    assert sms_to(no_consent["phone"]) == [
        "Relasi: Pengingat, Servis berkala 10.000 km jatuh tempo hari ini, 11 Maret 2026. Abaikan pesan ini bila "
        "sudah diselesaikan. Terima kasih."]
    assert sorted(sms_to(dues["phone"])) == sorted([
        "Relasi: Reminder, Installment 3 of 12 is due in 7 days, 18 March 2026 (Rp 1,500,000). Please ignore this "
        "message if it is already settled. Thank you.",
        "Relasi: Reminder, Installment 2 of 12 is due tomorrow, 12 March 2026 (Rp 250,000.50). Please ignore this "
        "message if it is already settled. Thank you.",
        "Relasi: Reminder, Warranty ends is due today, 11 March 2026. Please ignore this message if it is already "
        "settled. Thank you.",
    ])
    assert sms_to(stopped["phone"]) == [] and sms_to(by_email["phone"]) == [] and sms_to(not_today["phone"]) == []
    (mail,) = emails_to(email)
    assert mail.subject == "Happy birthday from Relasi" and mail.source == "no-reply@relasi.example"
    assert mail.body == "Relasi: Happy birthday! Wishing you health, happiness and success. Thank you for being our customer."

    # Every decision is on the timeline, once: sent, or skipped with its reason.
    assert [(d, r) for d, r, _ in _messages(agent, greeted)] == [("sent", None)]
    assert sorted((d, r) for d, r, _ in _messages(agent, no_consent)) == [("sent", None),
                                                                         ("skipped", "no_sms_marketing_consent")]
    assert [(d, r) for d, r, _ in _messages(agent, by_email)] == [("sent", None)]
    assert [(d, r) for d, r, _ in _messages(agent, stopped)] == [("skipped", "sms_opted_out")] * 2
    assert [(d, r) for d, r, _ in _messages(agent, dues)] == [("sent", None)] * 3
    assert _messages(agent, not_today) == []
    # The send-only attributes are gone once sent; the timeline keeps the text, not the address.
    for customer in (greeted, no_consent, by_email, dues):
        for item in _outbound_items(stack, customer):
            assert not {"address", "subject", "sms_type"} & set(item), item
    entry = agent.get(f"/customers/{greeted['id']}/timeline").json["items"][0]
    assert entry["channel"] == "sms" and entry["kind"] == "other" and entry["ref"] == "birthday"
    assert entry["staff_id"] == "relasi"
    # The execution input names keys only: no phone, email or text.
    described = boto3.client("stepfunctions").describe_execution(executionArn=_arn(first.executions[0]))
    payload = described["input"]
    for customer in (greeted, no_consent, by_email, dues):
        assert customer["phone"] not in payload and customer["name"] not in payload
    assert email not in payload and "Relasi:" not in payload and "Installment" not in payload

    # A third run, after everything was sent, still sends nothing.
    third = day_run(day, _wib(day, 9).astimezone(UTC))
    assert third.executions == first.executions and third.pending == 0
    assert len(sms_to(dues["phone"])) == 3 and len(emails_to(email)) == 1


def test_29_february_birthdays_are_greeted_on_28_february_in_common_years(as_user: Any, day_run: Any) -> None:
    agent = as_user("agent.jakarta")
    leapling = agent.new_customer(birthday="1992-02-29", consent=CONSENT_SMS)
    feb_28 = agent.new_customer(birthday="1990-02-28", consent=CONSENT_SMS)
    march_1 = agent.new_customer(birthday="1990-03-01", consent=CONSENT_SMS)

    common = day_run(date(2025, 2, 28), _wib(date(2025, 2, 28), 8).astimezone(UTC))
    day_run(date(2025, 2, 28), _wib(date(2025, 2, 28), 8).astimezone(UTC))
    leap_28 = day_run(date(2024, 2, 28), _wib(date(2024, 2, 28), 8).astimezone(UTC))
    leap_29 = day_run(date(2024, 2, 29), _wib(date(2024, 2, 29), 8).astimezone(UTC))
    for report in (common, leap_28, leap_29):
        assert _finished(report.executions[-1])["status"] == "SUCCEEDED"
    assert common.pending == 2 and leap_28.pending == 1 and leap_29.pending == 1
    assert len(sms_to(leapling["phone"])) == 2  # 28 Feb 2025 and 29 Feb 2024, not 28 Feb 2024
    assert len(sms_to(feb_28["phone"])) == 2  # 28 Feb 2025 and 28 Feb 2024
    assert sms_to(march_1["phone"]) == []
    refs = [i["ref"] for i in agent.get(f"/customers/{leapling['id']}/timeline").json["items"] if i["type"] == "interaction"]
    assert refs == ["birthday", "birthday"]


def test_a_run_in_the_quiet_hours_waits_until_eight(as_user: Any, stack: dict[str, str], day_run: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(birthday="1991-07-07", consent=CONSENT_SMS)
    day = date(2026, 7, 7)
    now = datetime.now(WIB)
    fired_at = _wib(now.date() + timedelta(days=1), 22)  # fired at 22:00 local (later than the clock, whatever its time)
    report = day_run(day, fired_at.astimezone(UTC), now=fired_at.astimezone(UTC))
    eight = _wib(now.date() + timedelta(days=2), 8).astimezone(UTC)  # sending waits for 08:00 the next morning
    assert report.send_after == eight.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert report.pending == 1 and len(report.executions) == 1
    sfn = boto3.client("stepfunctions")
    arn = _arn(report.executions[0])
    assert json.loads(sfn.describe_execution(executionArn=arn)["input"])["send_after"] == report.send_after
    time.sleep(1.5)
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert sms_to(customer["phone"]) == []
    assert [(d, r) for d, r, _ in _messages(agent, customer)] == [("pending", None)]
    pending = _outbound_items(stack, customer)[0]
    assert (pending["address"], pending["sms_type"]) == (customer["phone"], "Promotional")
    sfn.stop_execution(executionArn=arn)  # the session ends before 08:00


def test_a_re_run_of_the_day_sends_what_a_stopped_execution_left_pending_once(
        as_user: Any, stack: dict[str, str], day_run: Any) -> None:
    """The day's execution is stopped before it sends (an operator, a failure): a re-run the same day gives the
    batch a new execution, which sends the message once; runs after that start nothing more."""
    agent = as_user("agent.jakarta")
    customer = agent.new_customer(birthday="1990-08-09", consent=CONSENT_SMS)
    day = date(2026, 8, 9)
    now = datetime.now(WIB)
    quiet = _wib(now.date() + timedelta(days=1), 22)  # sending would wait for 08:00 the morning after
    first = day_run(day, quiet.astimezone(UTC), now=quiet.astimezone(UTC))
    assert first.pending == 1 and len(first.executions) == 1
    sfn = boto3.client("stepfunctions")
    sfn.stop_execution(executionArn=_arn(first.executions[0]))
    assert _finished(first.executions[0])["status"] == "ABORTED"
    assert sms_to(customer["phone"]) == [] and [d for d, _, _ in _messages(agent, customer)] == ["pending"]

    fired = _wib(day, 9).astimezone(UTC)  # outside the quiet hours, whatever the clock says
    again = day_run(day, fired, now=fired)
    assert again.already_decided == 1 and again.pending == 0  # decided once, handed over again
    assert again.executions == [f"{first.executions[0]}-a2"]
    assert _finished(again.executions[0])["status"] == "SUCCEEDED"
    assert len(sms_to(customer["phone"])) == 1
    assert [d for d, _, _ in _messages(agent, customer)] == ["sent"]

    third = day_run(day, fired + timedelta(minutes=1), now=fired)  # the succeeded attempt is found: nothing starts
    assert third.executions == again.executions
    time.sleep(0.5)
    assert len(sms_to(customer["phone"])) == 1


def test_a_profile_change_reaches_its_due_items_through_the_stream(as_user: Any, stack: dict[str, str],
                                                                    day_run: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer()
    item = agent.post(f"/customers/{customer['id']}/due-items",
                      {"kind": "contract", "title": "Kontrak sewa berakhir", "due_date": "2026-09-09"}).json
    stream = Stream(stack["TABLE_NAME"])
    email = f"{uuid.uuid4().hex[:10]}@contoh.co.id"
    changed = agent.patch(f"/customers/{customer['id']}",
                          {"preferred_channel": "email", "email": email, "language": "en"}, headers={"If-Match": '"v1"'})
    assert changed.status_code == 200
    event = stream.event()
    assert deliver(event) == {"batchItemFailures": []}
    assert deliver(event) == {"batchItemFailures": []}  # redelivered: no harm
    raw = _raw(stack, f"C#{customer['id']}", f"D#{item['id']}")
    assert raw is not None
    assert (raw["contact_channel"], raw["contact_email"], raw["contact_language"], raw["contact_version"]) == (
        "email", email, "en", 2)

    report = day_run(date(2026, 9, 9), _wib(date(2026, 9, 9), 8).astimezone(UTC))
    assert _finished(report.executions[0])["status"] == "SUCCEEDED"
    (mail,) = emails_to(email)
    assert mail.subject == "Reminder: Kontrak sewa berakhir, due 9 September 2026"
    assert sms_to(customer["phone"]) == []


def test_one_bad_message_is_recorded_as_failed_and_the_others_go_out(as_user: Any, stack: dict[str, str],
                                                                    day_run: Any) -> None:
    """A message SNS refuses ends 'failed' with the error's name; the execution and the other messages go on."""
    from chalicelib.domain.clock import iso, new_id, utcnow
    from chalicelib.domain.interactions import Interaction
    from chalicelib.persistence import messages

    agent = as_user("agent.jakarta")
    good, bad = agent.new_customer(), agent.new_customer()
    keys = []
    for customer, address in ((good, good["phone"]), (bad, "+62-not-a-number")):
        now = utcnow()
        record = Interaction(id=new_id(now), customer_id=customer["id"], channel="sms", direction="outbound",
                             kind="other", summary="Relasi: test reminder", staff_id="relasi", occurred_at=iso(now),
                             created_at=iso(now), ref="test", delivery="pending")
        claimed, key = messages.claim_entry(f"test#{uuid.uuid4()}", record,
                                            send={"address": address, "sms_type": "Transactional"})
        assert claimed and key is not None
        keys.append(key)
    name = f"reminders-test-{uuid.uuid4().hex[:12]}"
    aws.forget_clients()
    reminders.start_execution(name, reminders.execution_input(
        keys, send_after=utcnow(), table=stack["TABLE_NAME"], sender="no-reply@relasi.example", day=date(2026, 1, 1)))
    execution = _finished(name)
    assert execution["status"] == "SUCCEEDED", execution
    assert [o["outcome"] for o in json.loads(execution["output"])] == ["sent", "failed"]
    assert sms_to(good["phone"]) == ["Relasi: test reminder"]
    failed = _outbound_items(stack, bad)[0]
    assert failed["delivery"] == "failed" and failed["reason"].startswith("SNS.")
    assert "address" not in failed
    assert [(d, r) for d, r, _ in _messages(agent, bad)] == [("failed", failed["reason"])]


def test_a_large_day_is_split_into_staggered_executions(as_user: Any, monkeypatch: pytest.MonkeyPatch,
                                                        day_run: Any) -> None:
    agent = as_user("agent.jakarta")
    people = [agent.new_customer(birthday=f"19{70 + n}-06-21", consent=CONSENT_SMS) for n in range(5)]
    started: dict[str, dict[str, Any]] = {}
    monkeypatch.setattr(reminders, "REMINDERS_PER_EXECUTION", 2)

    def start(name: str, payload: dict[str, Any]) -> str:
        started.setdefault(name, payload)
        return name

    day = date(2026, 6, 21)
    fired = _wib(day, 8).astimezone(UTC)
    report = day_run(day, fired, now=fired, start=start)
    again = day_run(day, fired + timedelta(minutes=1), start=start)
    assert report.pending == 5 and again.executions == report.executions and len(report.executions) == 3
    sizes = [len(started[name]["items"]) for name in report.executions]
    assert sizes == [2, 2, 1]
    slot = reminders.slot_seconds(2)
    assert [started[name]["send_after"] for name in report.executions] == [
        (_wib(day, 8) + timedelta(seconds=n * slot)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        for n in range(3)]
    assert len({k["sk"] for name in report.executions for k in started[name]["items"]}) == len(people)
