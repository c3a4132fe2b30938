"""Each customer's engagement (chalicelib/domain/engagement.py): the contacts the nightly analyses read instead of
every contact in the table.

The rules on their own, then through the stack: the stream consumer adds a contact once however often its record
comes, leaves the CRM's own messages out, and writes nothing for an erased customer; the export reads the item for
RFM and churn risk and prunes what left the window, keeping how long the customer has been silent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import engagement as eng
from chalicelib.domain.exports import Snapshot
from tests.test_analytics_export import export, key_of, rows
from tests.test_stream import Stream, deliver

WIB = ZoneInfo("Asia/Jakarta")
SNAP = Snapshot(date(2026, 11, 30), "Asia/Jakarta")  # ends 2026-11-30T17:00:00Z


def _at(day: date, hour_utc: int = 3) -> str:
    return datetime(day.year, day.month, day.day, hour_utc, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _kept(*contacts: eng.Contact, older_last: str | None = None) -> eng.Kept:
    return eng.Kept(frozenset(eng.element(c) for c in contacts), older_last)


def test_contacts_are_counted_as_of_the_day_in_its_windows_and_branches() -> None:
    day = date(2026, 11, 30)
    kept = _kept(
        eng.Contact(_at(day), "bandung", "visit", "a"),  # today, in bandung
        eng.Contact(_at(day - timedelta(days=89)), "", "phone", "b"),  # no branch named: the customer's
        eng.Contact(_at(day - timedelta(days=90)), "", "phone", "c"),  # the 90 before
        eng.Contact(_at(day - timedelta(days=364)), "", "chat", "d"),
        eng.Contact(_at(day - timedelta(days=365)), "", "chat", "e"),  # out of the year
        eng.Contact(_at(day + timedelta(days=1)), "", "chat", "f"),  # after the day: not yet
        eng.Contact("2026-11-30T17:00:00.000Z", "", "chat", "g"),  # 00:00 WIB on Dec 1st: after the day too
    )
    found = eng.counted(kept, day=day, ends_at=SNAP.ends_at, local_day=SNAP.local_day, home_branch="jakarta")
    assert found.last_on == day
    assert (found.last_90, found.prev_90, found.last_365) == (2, 1, 4)
    assert found.per_day_channel[(day, "bandung", "visit")] == 1
    assert found.per_day_channel[(day - timedelta(days=89), "jakarta", "phone")] == 1
    assert sum(found.per_day_channel.values()) == 5  # all but the two after the day


def test_a_customer_silent_for_longer_than_the_window_keeps_their_last_contact() -> None:
    long_ago = _at(date(2024, 3, 1))
    found = eng.counted(_kept(older_last=long_ago), day=date(2026, 11, 30), ends_at=SNAP.ends_at,
                        local_day=SNAP.local_day, home_branch="jakarta")
    assert found.last_on == date(2024, 3, 1) and found.last_365 == 0 and not found.per_day_channel
    never = eng.counted(eng.Kept(), day=date(2026, 11, 30), ends_at=SNAP.ends_at, local_day=SNAP.local_day,
                        home_branch="jakarta")
    assert never.last_on is None


def test_pruning_takes_out_what_left_the_window_and_keeps_the_newest_of_it() -> None:
    today = date(2026, 12, 1)
    edge = today - timedelta(days=eng.ENGAGEMENT_DAYS)
    old, older = eng.Contact(_at(edge), "", "visit", "old"), eng.Contact(_at(edge - timedelta(days=30)), "", "visit", "x")
    fresh = eng.Contact(_at(edge + timedelta(days=1)), "", "visit", "new")
    gone = eng.pruned(_kept(old, older, fresh, older_last=_at(date(2020, 1, 1))), today, local_day=SNAP.local_day)
    assert gone.contacts == {eng.element(old), eng.element(older)} and gone.older_last == old.occurred_at
    assert eng.pruned(_kept(fresh), today, local_day=SNAP.local_day) == eng.Pruned(frozenset(), None, frozenset())
    kept, newest_older = eng.split([old, older, fresh], today, local_day=SNAP.local_day)
    assert kept == [eng.element(fresh)] and newest_older == old.occurred_at


def test_the_items_cover_the_days_whose_year_lies_within_them_and_anomalies_judge_full_windows() -> None:
    today = date(2026, 12, 7)
    assert eng.covers(today - timedelta(days=1), today) and eng.covers(today - timedelta(days=35), today)
    assert not eng.covers(today - timedelta(days=36), today)  # its 365 days begin before the items' 400
    assert eng.first_full_day(today, 28) == today - timedelta(days=372)
    contacts = [eng.Contact(_at(date(2025, 1, 1)), "", "visit", "a"), eng.Contact(_at(date(2025, 1, 1)), "", "visit", "a")]
    assert eng.kept_from(contacts) == eng.Kept(frozenset({eng.element(contacts[0])}))  # one contact, read twice


def test_a_message_the_crm_sent_is_no_contact_but_a_message_once_sent() -> None:
    stored = {"id": "m", "occurred_at": _at(date(2026, 11, 1)), "channel": "sms", "delivery": "sent"}
    assert eng.contact_from(stored) is None
    assert eng.contact_from({**stored, "delivery": None, "branch_id": None}) == eng.Contact(
        stored["occurred_at"], "", "sms", "m")
    assert eng.message_from(stored) == eng.Message(stored["occurred_at"], "", "sms", 1, "m")
    for not_sent in ("pending", "skipped", "failed", None):
        assert eng.message_from({**stored, "delivery": not_sent}) is None
    recipient = {"campaign_id": "c1", "customer_id": "x", "branch_id": "bandung", "sent_at": _at(date(2026, 11, 2)),
                 "parts": 2}
    message = eng.campaign_message(recipient, "sms")
    assert message == eng.Message(recipient["sent_at"], "bandung", "sms", 2, "campaign:c1")
    assert eng.message_of(eng.message_element(message)) == message  # type: ignore[arg-type]
    assert eng.campaign_message({**recipient, "sent_at": None}, "sms") is None  # capped, withdrawn, control


def test_messages_are_kept_for_profitabilitys_months_of_any_day_the_items_cover() -> None:
    from chalicelib.config import PROFIT_MONTHS

    today = date(2026, 12, 7)
    oldest_covered = today - timedelta(days=eng.ENGAGEMENT_DAYS - eng.COUNTED_DAYS)
    assert eng.covers(oldest_covered, today)
    month = oldest_covered.year * 12 + oldest_covered.month - 1 - (PROFIT_MONTHS - 1)
    first_counted = date(month // 12, month % 12 + 1, 1)  # the first day of its oldest month
    assert (today - first_counted).days < eng.MESSAGE_DAYS
    edge = today - timedelta(days=eng.MESSAGE_DAYS)
    old = eng.Message(_at(edge), "", "email", 1, "old")
    fresh = eng.Message(_at(edge + timedelta(days=1)), "", "email", 1, "new")
    kept = eng.Kept(messages=frozenset({eng.message_element(old), eng.message_element(fresh)}))
    assert eng.pruned(kept, today, local_day=SNAP.local_day) == eng.Pruned(frozenset(), None, frozenset({
        eng.message_element(old)}))
    assert eng.recent_messages([old, fresh], today, local_day=SNAP.local_day) == [eng.message_element(fresh)]
    ends = Snapshot(edge, "Asia/Jakarta").ends_at  # a day's end: what was sent by then
    assert eng.sent(kept, ends) == [old] and set(eng.sent(kept, "9999")) == {old, fresh}


# ---------------------------------------------------------------------------------------------- through the stack


def engagement_of(customer_id: str) -> eng.Kept | None:
    """The customer's engagement item as stored (a consistent GetItem), or None."""
    import os

    import boto3

    from chalicelib.persistence import engagement
    from chalicelib.persistence.raw import plain_item

    raw = boto3.client("dynamodb").get_item(TableName=os.environ["TABLE_NAME"], ConsistentRead=True, Key={
        "pk": {"S": f"C#{customer_id}"}, "sk": {"S": engagement.ENGAGEMENT_SK}}).get("Item")
    return None if raw is None else engagement.kept_of(plain_item(raw))


def _contact(caller: Any, customer_id: str, occurred_at: str, channel: str = "visit") -> dict[str, Any]:
    made = caller.post(f"/customers/{customer_id}/interactions", {
        "channel": channel, "direction": "inbound", "kind": "inquiry", "summary": "Asked about a price",
        "occurred_at": occurred_at})
    assert made.status_code == 201, made.body
    return dict(made.json)


def test_a_contact_joins_its_customers_engagement_once_however_often_its_record_comes(
        stack: dict[str, str], as_user: Any, stream_pump: Any) -> None:
    agent = as_user("agent.jakarta")
    customer = agent.new_customer()
    stream = Stream(stack["TABLE_NAME"])
    contact = _contact(agent, customer["id"], "2026-11-20T03:00:00Z", channel="phone")
    stream_pump.drain()
    expected = eng.element(eng.Contact(contact["occurred_at"], "jakarta", "phone", contact["id"]))
    assert engagement_of(customer["id"]) == eng.Kept(frozenset({expected}))
    event = stream.event()  # the same records again, twice: Lambda may deliver a batch more than once
    assert deliver(event) == {"batchItemFailures": []} and deliver(event) == {"batchItemFailures": []}
    assert engagement_of(customer["id"]) == eng.Kept(frozenset({expected}))


def test_messages_the_crm_sends_stay_out_and_an_erased_customer_keeps_nothing(
        stack: dict[str, str], as_user: Any, stream_pump: Any) -> None:
    from chalicelib.persistence import engagement

    agent, admin = as_user("agent.jakarta"), as_user("admin")
    customer = agent.new_customer()
    complaint = agent.post(f"/customers/{customer['id']}/complaints", {
        "category": "service", "severity": "medium", "subject": "Slow", "description": "It took long"})
    assert complaint.status_code == 201, complaint.body  # its receipt SMS is a message, not a contact
    stream_pump.drain()
    kept = engagement_of(customer["id"])
    assert kept is not None and not kept.contacts
    [receipt] = [i for i in agent.get(f"/customers/{customer['id']}/interactions").json["items"]
                 if i.get("delivery") == "sent"]
    assert [eng.message_of(v) for v in kept.messages] == [eng.Message(receipt["occurred_at"], "jakarta", "sms", 1,
                                                                      receipt["id"])]
    _contact(agent, customer["id"], "2026-11-21T03:00:00Z")
    stream_pump.drain()
    assert engagement_of(customer["id"]).contacts  # type: ignore[union-attr]
    assert admin.delete(f"/customers/{customer['id']}").status_code == 204
    stream_pump.drain()
    assert engagement_of(customer["id"]) is None
    # a record of a contact delivered after the erasure (a late redelivery, the backfill) writes nothing back
    assert engagement.add(customer["id"], ["2026-11-21T03:00:00.000Z|jakarta|visit|late"]) is False
    assert engagement_of(customer["id"]) is None


def _today() -> date:
    from chalicelib.domain.clock import local_today

    return local_today("Asia/Jakarta")


def test_the_nightly_run_reads_the_engagement_and_prunes_what_left_its_window(
        stack: dict[str, str], as_user: Any, stream_pump: Any) -> None:
    from chalicelib.domain.clock import at

    manager = as_user("manager.surabaya")
    long_ago = datetime.now(UTC) - timedelta(days=eng.ENGAGEMENT_DAYS + 2)
    with stream_pump.paused(), at(long_ago - timedelta(days=1)):  # a customer of long standing
        customer = manager.new_customer(branch_id="surabaya")
    today = _today()
    recent = datetime.now(UTC) - timedelta(days=3)
    old = _contact(manager, customer["id"], long_ago.strftime("%Y-%m-%dT%H:%M:%SZ"))  # imported history
    new = _contact(manager, customer["id"], recent.strftime("%Y-%m-%dT%H:%M:%SZ"))
    stream_pump.drain()
    assert len(engagement_of(customer["id"]).contacts) == 2  # type: ignore[union-attr]

    yesterday = today - timedelta(days=1)
    export(as_user("admin"), yesterday)  # the nightly run's day: it prunes
    kept = engagement_of(customer["id"])
    assert kept is not None and kept.older_last == old["occurred_at"]
    assert {eng.contact_of(v).id for v in kept.contacts} == {new["id"]}
    _, rfm = rows(stack["EXPORT_BUCKET"], "rfm", yesterday)
    row = {r["customer_key"]: r for r in rfm}[key_of(stack, customer["id"])]
    recent_on = recent.astimezone(WIB).date()
    assert row["frequency"] == 1 and row["recency_days"] == (yesterday - recent_on).days

    # an older day, run again, counts as of its end and prunes nothing; a customer silent since the pruned contact
    # is still scored by it
    before_recent = recent_on - timedelta(days=1)
    export(as_user("admin"), before_recent)
    _, rfm = rows(stack["EXPORT_BUCKET"], "rfm", before_recent)
    row = {r["customer_key"]: r for r in rfm}[key_of(stack, customer["id"])]
    long_ago_on = long_ago.astimezone(WIB).date()
    assert row["frequency"] == 0 and row["recency_days"] == (before_recent - long_ago_on).days
    _, churn = rows(stack["EXPORT_BUCKET"], "churn_risk", before_recent)
    assert "no_contact_180_days" in {c["customer_key"]: c for c in churn}[key_of(stack, customer["id"])]["reasons"]

    # a day older than the items reach (the 365 days before it begin before their 400): counted from the contacts
    # themselves, where the pruned one is still within the year
    month_ago = today - timedelta(days=40)
    export(as_user("admin"), month_ago)
    _, rfm = rows(stack["EXPORT_BUCKET"], "rfm", month_ago)
    row = {r["customer_key"]: r for r in rfm}[key_of(stack, customer["id"])]
    assert row["frequency"] == 1 and row["recency_days"] == (month_ago - long_ago_on).days


def test_the_backfill_adds_history_s_contacts_and_messages_and_a_campaign_s_messages_to_each_recipient() -> None:
    from chalicelib.workflows.backfill import engagement_adds

    today = date(2026, 12, 7)
    snap = Snapshot(today - timedelta(days=1), "Asia/Jakarta")
    recent, ancient = _at(today - timedelta(days=10)), _at(today - timedelta(days=eng.MESSAGE_DAYS + 5))
    customer = [
        {"type": "customer", "id": "c1"},
        {"type": "interaction", "id": "i1", "occurred_at": recent, "channel": "visit", "branch_id": "bandung"},
        {"type": "interaction", "id": "n1", "occurred_at": recent, "channel": "sms", "delivery": "sent"},
        {"type": "interaction", "id": "n2", "occurred_at": recent, "channel": "sms", "delivery": "skipped"},
        {"type": "interaction", "id": "n3", "occurred_at": ancient, "channel": "email", "delivery": "sent"},
    ]
    assert engagement_adds("C#c1", customer, today, snap) == [(
        "c1", [eng.element(eng.Contact(recent, "bandung", "visit", "i1"))], None,
        [eng.message_element(eng.Message(recent, "", "sms", 1, "n1"))])]
    campaign = [
        {"type": "campaign", "id": "k1", "channel": "email"},
        {"type": "campaign_recipient", "campaign_id": "k1", "customer_id": "c1", "branch_id": "jakarta",
         "sent_at": recent, "parts": None},
        {"type": "campaign_recipient", "campaign_id": "k1", "customer_id": "c2", "branch_id": "jakarta",
         "sent_at": None},  # a holdout: nothing sent
    ]
    assert engagement_adds("CAMP#k1", campaign, today, snap) == [
        ("c1", [], None, [eng.message_element(eng.Message(recent, "jakarta", "email", 1, "campaign:k1"))])]
    assert engagement_adds("O#x", [{"type": "order"}], today, snap) == []


def test_a_released_message_leaves_the_item_and_a_redelivered_one_counts_once() -> None:
    from chalicelib.persistence.engagement import changes_in

    def image(delivery: str | None, interaction_id: str = "n1") -> dict[str, Any]:
        found = {"pk": {"S": "C#c1"}, "sk": {"S": f"I#x#{interaction_id}"}, "type": {"S": "interaction"},
                 "id": {"S": interaction_id}, "occurred_at": {"S": "2026-11-01T03:00:00.000Z"}, "channel": {"S": "sms"},
                 "branch_id": {"S": "jakarta"}}
        return {**found, "delivery": {"S": delivery} if delivery else {"NULL": True}}

    sent = eng.message_element(eng.Message("2026-11-01T03:00:00.000Z", "jakarta", "sms", 1, "n1"))
    claimed = {"eventName": "INSERT", "dynamodb": {"NewImage": image("sent")}}
    released = {"eventName": "REMOVE", "dynamodb": {"OldImage": image("sent")}}
    assert changes_in([claimed])["c1"].messages == {sent}
    assert changes_in([claimed, claimed])["c1"].messages == {sent}  # a record delivered twice: once
    both = changes_in([claimed, released])["c1"]  # the claim, then its release (the send failed), in one batch
    assert both.messages == set() and both.unsent == {sent}
    assert changes_in([released])["c1"].unsent == {sent}  # the release in a later batch
    contact = {"eventName": "REMOVE", "dynamodb": {"OldImage": image(None, "i1")}}
    assert changes_in([contact]) == {}  # a contact deleted (an erasure): the item goes with the customer
    pending = {"eventName": "MODIFY", "dynamodb": {"OldImage": image("pending"), "NewImage": image("sent")}}
    assert changes_in([pending])["c1"].messages == {sent}  # sent after waiting for the quiet hours
    again = {"eventName": "MODIFY", "dynamodb": {"OldImage": image("sent"), "NewImage": image("sent")}}
    assert changes_in([again]) == {}  # sent before: added then
