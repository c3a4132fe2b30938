"""A customer's engagement: what the nightly analyses need of their contacts, kept as the contacts happen.

RFM, churn risk, the anomalies' contacts per day and the campaign audiences'
last contact all follow from one set per customer: each contact by staff or
the customer (not a message the CRM sent) as `<occurred_at>|<branch>|<channel>|<id>`.
The stream consumer adds each new contact, and the facts backfill adds those
of history; a set's ADD is the same however often it is repeated, so a
redelivered record or a backfill racing the consumer counts nothing twice.
Contacts older than ENGAGEMENT_DAYS leave the set (the nightly run prunes
them), and the newest of them stays as `older_last`: enough to say how long a
customer has been silent, whatever their history.

The messages sent to the customer (the CRM's own notifications once sent, and
campaign messages) are a second set, `<sent_at>|<branch>|<channel>|<parts>|<ref>`,
kept for MESSAGE_DAYS: what profitability's cost to serve counts, so that the
nightly run reads no message either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chalicelib.config import PROFIT_MONTHS

ENGAGEMENT_DAYS = 400  # contacts kept per customer: the 365 days of RFM's frequency, the anomalies' 28 before, a margin
COUNTED_DAYS = 365  # the longest window the analyses count contacts in (RFM's frequency)
# messages kept per customer: profitability's PROFIT_MONTHS (from the first of the oldest month) of a day up to
# ENGAGEMENT_DAYS - COUNTED_DAYS back, as `covers` allows
MESSAGE_DAYS = (ENGAGEMENT_DAYS - COUNTED_DAYS) + 31 * PROFIT_MONTHS + 1
_SEPARATOR = "|"
_CAMPAIGN_REF = "campaign:"

LocalDay = Callable[[str], date]  # an ISO 8601 stamp's local day


@dataclass(frozen=True)
class Contact:
    occurred_at: str  # ISO 8601 UTC
    branch_id: str  # where it happened; "" when the contact did not say (the customer's branch counts)
    channel: str
    id: str


def element(contact: Contact) -> str:
    return _SEPARATOR.join((contact.occurred_at, contact.branch_id, contact.channel, contact.id))


def contact_of(value: str) -> Contact:
    occurred_at, branch_id, channel, contact_id = value.split(_SEPARATOR, 3)
    return Contact(occurred_at, branch_id, channel, contact_id)


def contact_from(item: Mapping[str, Any]) -> Contact | None:
    """The contact a stored interaction is, or None for a message the CRM sent (or decided not to send)."""
    if item.get("delivery") is not None:
        return None
    return Contact(str(item["occurred_at"]), str(item.get("branch_id") or ""), str(item["channel"]), str(item["id"]))


@dataclass(frozen=True)
class Message:
    """A message sent to the customer: what it cost to serve them."""

    sent_at: str  # ISO 8601 UTC
    branch_id: str  # "" when the message did not say (the customer's branch counts)
    channel: str
    parts: int  # an SMS's parts; 1 otherwise
    ref: str  # the notification's interaction id, or "campaign:<campaign id>"


def message_element(message: Message) -> str:
    return _SEPARATOR.join((message.sent_at, message.branch_id, message.channel, str(message.parts), message.ref))


def message_of(value: str) -> Message:
    sent_at, branch_id, channel, parts, ref = value.split(_SEPARATOR, 4)
    return Message(sent_at, branch_id, channel, int(parts), ref)


def message_from(item: Mapping[str, Any]) -> Message | None:
    """The message a stored notification is once sent (None: a contact, or a message not sent: pending, skipped,
    failed)."""
    if item.get("delivery") != "sent":
        return None
    return Message(str(item["occurred_at"]), str(item.get("branch_id") or ""), str(item["channel"]), 1,
                   str(item["id"]))


def campaign_message(recipient: Mapping[str, Any], channel: str) -> Message | None:
    """The message a campaign recipient's row says was sent (None: not sent, or not to be), in the campaign's
    channel."""
    if not recipient.get("sent_at"):
        return None
    return Message(str(recipient["sent_at"]), str(recipient.get("branch_id") or ""), channel,
                   int(recipient.get("parts") or 1), _CAMPAIGN_REF + str(recipient["campaign_id"]))


@dataclass(frozen=True)
class Kept:
    """A customer's engagement item as stored."""

    contacts: frozenset[str] = frozenset()
    older_last: str | None = None  # occurred_at of the newest contact pruned from `contacts`
    messages: frozenset[str] = frozenset()


def kept_from(contacts: Iterable[Contact], messages: Iterable[Message] = ()) -> Kept:
    """Contacts and messages read one by one (a day the engagement items no longer cover) as the item would hold
    them."""
    return Kept(frozenset(element(c) for c in contacts), messages=frozenset(message_element(m) for m in messages))


def sent(kept: Kept, ends_at: str) -> list[Message]:
    """The messages sent before `ends_at` (the end of the day exported, UTC)."""
    return [m for m in map(message_of, kept.messages) if m.sent_at < ends_at]


def covers(day: date, today: date) -> bool:
    """Whether the items kept on `today` hold every contact the analyses of `day` count: the COUNTED_DAYS up to it
    lie within the ENGAGEMENT_DAYS before today (a re-run of an older day counts from the contacts themselves)."""
    return (today - day).days <= ENGAGEMENT_DAYS - COUNTED_DAYS


def first_full_day(today: date, window_days: int) -> date:
    """The first day whose `window_days` before it are all within the items kept on `today` (the anomalies' contacts
    are judged from there: an earlier day's window would be cut short by the pruning, not by a quiet channel)."""
    return today - timedelta(days=ENGAGEMENT_DAYS - window_days)


@dataclass
class Counted:
    """A customer's contacts as of a day: what RFM, churn risk and the anomalies read."""

    last_on: date | None = None
    last_90: int = 0
    prev_90: int = 0  # days 91..180 before the day
    last_365: int = 0
    per_day_channel: dict[tuple[date, str, str], int] = field(default_factory=dict)  # (day, branch, channel): n


def counted(kept: Kept, *, day: date, ends_at: str, local_day: LocalDay, home_branch: str) -> Counted:
    """The contacts that happened before `ends_at` (the end of `day`, UTC), counted as of `day`; a contact that
    names no branch counts in `home_branch`."""
    found = Counted()
    for value in kept.contacts:
        contact = contact_of(value)
        if contact.occurred_at >= ends_at:
            continue
        on = local_day(contact.occurred_at)
        days_ago = (day - on).days
        found.last_on = on if found.last_on is None or on > found.last_on else found.last_on
        found.last_90 += days_ago < 90
        found.prev_90 += 90 <= days_ago < 180
        found.last_365 += days_ago < 365
        slot = (on, contact.branch_id or home_branch, contact.channel)
        found.per_day_channel[slot] = found.per_day_channel.get(slot, 0) + 1
    if found.last_on is None and kept.older_last is not None and kept.older_last < ends_at:
        found.last_on = local_day(kept.older_last)
    return found


@dataclass(frozen=True)
class Pruned:
    """What leaves an item on a day, and the `older_last` it keeps then."""

    contacts: frozenset[str]
    older_last: str | None
    messages: frozenset[str]


def pruned(kept: Kept, today: date, *, local_day: LocalDay) -> Pruned:
    """What leaves the item on `today`: contacts on a local day ENGAGEMENT_DAYS or more before it (the newest of
    them, or what was kept before, becomes `older_last`), messages MESSAGE_DAYS or more before it."""
    limit = today - timedelta(days=ENGAGEMENT_DAYS)
    old = frozenset(v for v in kept.contacts if local_day(contact_of(v).occurred_at) <= limit)
    stamps = [s for s in (*(contact_of(v).occurred_at for v in old), kept.older_last) if s is not None]
    message_limit = today - timedelta(days=MESSAGE_DAYS)
    old_messages = frozenset(v for v in kept.messages if local_day(message_of(v).sent_at) <= message_limit)
    return Pruned(old, max(stamps, default=None), old_messages)


def split(contacts: Iterable[Contact], today: date, *, local_day: LocalDay) -> tuple[list[str], str | None]:
    """History's contacts as the backfill adds them: those within ENGAGEMENT_DAYS as elements, and the newest of
    the older ones (None: none older)."""
    limit = today - timedelta(days=ENGAGEMENT_DAYS)
    kept: list[str] = []
    older: str | None = None
    for c in contacts:
        if local_day(c.occurred_at) <= limit:
            older = c.occurred_at if older is None or c.occurred_at > older else older
        else:
            kept.append(element(c))
    return kept, older


def recent_messages(messages: Iterable[Message], today: date, *, local_day: LocalDay) -> list[str]:
    """History's messages as the backfill adds them: those within MESSAGE_DAYS, as elements."""
    limit = today - timedelta(days=MESSAGE_DAYS)
    return [message_element(m) for m in messages if local_day(m.sent_at) > limit]
