"""Marketing campaigns: the campaign and its lifecycle, the audience conditions, who gets a message and why not,
the text rules (GSM-7, one SMS part with the opt-out link), the send window, the frequency cap, the stable
assignment to the global control group, the holdout and the variants, and the report's statistics.

Everything here is plain Python: the repository (chalicelib/persistence/campaigns.py) stores it, the sender
(chalicelib/workflows/campaigns.py) applies it one recipient at a time, the preview applies the same functions
without writing, so a preview and the sending that follows agree.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.analytics import RFM_SEGMENTS
from chalicelib.domain.customers import TAG_PATTERN, Customer, Language, LifecycleStage
from chalicelib.domain.errors import Conflict, FieldError, Unprocessable, ValidationFailed
from chalicelib.domain.products import Category as ProductCategory
from chalicelib.domain.versions import etag_for

AUDIENCE_CONDITIONS_MAX = 10
CONDITION_VALUES_MAX = 50
VARIANTS_MIN, VARIANTS_MAX = 2, 5
TEST_SEND_MAX = 5
APPROVAL_ABOVE_RECIPIENTS = 5000  # a campaign to more people needs an admin's approval
GLOBAL_CONTROL_PER_10000 = 500  # 5%: a stable share of customers that gets no marketing at all
FIRST_NAME_MAX_CHARS = 12  # {first_name} is cut to this, so the length check at writing time holds for everyone
SMS_PART_SEPTETS = 160
SMS_MULTIPART_SEPTETS = 153
SMS_PARTS_MAX_ADMIN = 3
ATTRIBUTION_DAYS_DEFAULT = 7
UNDERPOWERED_BELOW = 100  # people per arm
UNKNOWN_AFTER_HOURS = 72  # an SMS accepted without a final receipt for this long is "unknown"
AUTO_PAUSE_WINDOW = 200  # the last sends looked at
AUTO_PAUSE_FAILED_SHARE = 0.10  # pause when at least this share of them failed
SEND_WINDOW_DAYS = frozenset(range(0, 6))  # Monday (0) .. Saturday (5)
SEND_WINDOW_HOURS = (8, 18)  # local, [08:00, 18:00)


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Purpose(StrEnum):
    PROMOTION = "promotion"
    CROSS_SELL = "cross_sell"
    RETENTION = "retention"
    PRICE_CHANGE = "price_change"
    NEW_PRODUCT = "new_product"
    INFORMATIONAL = "informational"  # admin only; never a promotion: no marketing consent, quiet hours only


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


NEXT: dict[str, tuple[str, ...]] = {
    Status.DRAFT: (Status.SCHEDULED, Status.CANCELLED),
    Status.SCHEDULED: (Status.SENDING, Status.DRAFT, Status.CANCELLED),
    Status.SENDING: (Status.PAUSED, Status.COMPLETED, Status.CANCELLED),
    Status.PAUSED: (Status.SENDING, Status.CANCELLED),
    Status.COMPLETED: (),
    Status.CANCELLED: (),
}


class Reason(StrEnum):
    """Why someone the audience matched gets no message, in the order they are applied."""

    NO_ADDRESS = "no_address"
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    GLOBAL_CONTROL = "global_control"
    HOLDOUT = "holdout"
    FREQUENCY_CAP = "frequency_cap"
    WITHDRAWN = "withdrawn"  # consent, address or opt-out changed between the audience's snapshot and the send


# Not reachable: outside `eligible`. The arms of the eligible: control, holdout, capped, sent (and withdrawn).
NOT_REACHABLE = (Reason.NO_ADDRESS, Reason.NO_CONSENT, Reason.OPTED_OUT)


# --------------------------------------------------------------------------
# The audience
# --------------------------------------------------------------------------

_PROFILE_LISTS = ("branch_in", "stage_in", "tags_any", "tags_all", "city_in")
_DATE_CONDITIONS = ("customer_since_before", "customer_since_after")
# Conditions on what the latest analytics export found (AudienceFacts): segments, last contact, purchases.
_FACT_LISTS = ("rfm_segment_in", "churn_band_in", "bought_category_in", "not_bought_category_in")
_FACT_DATES = ("last_interaction_before", "last_interaction_after", "last_order_before")
FACT_CONDITIONS = (*_FACT_LISTS, *_FACT_DATES)
_LIST_CONDITIONS = (*_PROFILE_LISTS, *_FACT_LISTS)
CONDITIONS = (*_PROFILE_LISTS, "language", *_DATE_CONDITIONS, "birthday_month", *FACT_CONDITIONS)
CHURN_BANDS = ("low", "medium", "high")


@dataclass(frozen=True)
class AudienceFacts:
    """What the latest analytics export (of day `as_of`) found about one customer: their RFM segment and churn
    band, their last interaction and last order (local days), the product categories of their orders of the
    last 365 days. A customer the export has not seen yet has none (NO_FACTS)."""

    as_of: str
    rfm_segment: str | None = None
    churn_band: str | None = None
    last_interaction_on: str | None = None
    last_order_on: str | None = None
    categories: tuple[str, ...] = ()


NO_FACTS = AudienceFacts(as_of="")


def needs_facts(audience: Audience) -> bool:
    return any(k in audience.conditions for k in FACT_CONDITIONS)


def matches_facts(audience: Audience, f: AudienceFacts) -> bool:
    """Whether the export's facts meet every fact condition. Without facts: no segment, band, contact or order
    is known, so only `not_bought_category_in` can hold."""
    a = audience.conditions
    if "rfm_segment_in" in a and f.rfm_segment not in a["rfm_segment_in"]:
        return False
    if "churn_band_in" in a and f.churn_band not in a["churn_band_in"]:
        return False
    if "bought_category_in" in a and not set(a["bought_category_in"]) & set(f.categories):
        return False
    if "not_bought_category_in" in a and set(a["not_bought_category_in"]) & set(f.categories):
        return False
    last_contact, last_order = f.last_interaction_on, f.last_order_on
    if "last_interaction_before" in a and not (last_contact and last_contact < a["last_interaction_before"]):
        return False
    if "last_interaction_after" in a and not (last_contact and last_contact > a["last_interaction_after"]):
        return False
    return not ("last_order_before" in a and not (last_order and last_order < a["last_order_before"]))


@dataclass(frozen=True)
class Audience:
    """Conditions that must all hold; an empty audience is everyone."""

    conditions: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.conditions)


def audience_of(raw: Any, branches: Iterable[str]) -> Audience:
    """The audience a request gives, checked: an unknown key or value is a 400 naming it."""
    if not isinstance(raw, dict):
        raise ValidationFailed([FieldError("audience", "must be an object of conditions")])
    errors: list[FieldError] = []
    if len(raw) > AUDIENCE_CONDITIONS_MAX:
        errors.append(FieldError("audience", f"at most {AUDIENCE_CONDITIONS_MAX} conditions"))
    known_branches = set(branches)
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"audience.{key}"
        if key not in CONDITIONS:
            errors.append(FieldError(where, f"unknown condition; known: {', '.join(CONDITIONS)}"))
            continue
        if key in _LIST_CONDITIONS:
            if not isinstance(value, list) or not value or len(value) > CONDITION_VALUES_MAX \
                    or not all(isinstance(v, str) and v for v in value):
                errors.append(FieldError(where, f"must be a list of 1 to {CONDITION_VALUES_MAX} texts"))
                continue
            allowed: set[str] | None = {"branch_in": known_branches,
                                        "stage_in": {s.value for s in LifecycleStage},
                                        "rfm_segment_in": set(RFM_SEGMENTS),
                                        "churn_band_in": set(CHURN_BANDS),
                                        "bought_category_in": {c.value for c in ProductCategory},
                                        "not_bought_category_in": {c.value for c in ProductCategory}}.get(key)
            bad = [v for v in value if (allowed is not None and v not in allowed)
                   or (key.startswith("tags") and not TAG_PATTERN.match(v))]
            if bad:
                errors.append(FieldError(where, f"unknown value {bad[0]!r}"
                                         + (f"; known: {', '.join(sorted(allowed))}" if allowed else "")))
                continue
            clean[key] = sorted(set(v.casefold() if key == "city_in" else v for v in value))
        elif key == "language":
            if not isinstance(value, str) or value not in {lang.value for lang in Language}:
                errors.append(FieldError(where, f"unknown value {value!r}; known: id, en"))
                continue
            clean[key] = value
        elif key == "birthday_month":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
                errors.append(FieldError(where, "must be a month number 1-12"))
                continue
            clean[key] = value
        else:
            try:
                if not isinstance(value, str) or len(value) != 10:
                    raise ValueError(value)
                clean[key] = date.fromisoformat(value).isoformat()
            except ValueError:
                errors.append(FieldError(where, "must be a date YYYY-MM-DD"))
    if errors:
        raise ValidationFailed(errors, "The audience is not valid.")
    return Audience(clean)


def matches(audience: Audience, c: Customer, zone: ZoneInfo) -> bool:
    """Whether the customer meets every condition (the profile is all it reads)."""
    a = audience.conditions
    if "branch_in" in a and c.branch_id not in a["branch_in"]:
        return False
    if "stage_in" in a and c.lifecycle_stage not in a["stage_in"]:
        return False
    if "tags_any" in a and not set(a["tags_any"]) & set(c.tags):
        return False
    if "tags_all" in a and not set(a["tags_all"]) <= set(c.tags):
        return False
    if "city_in" in a and (c.city or "").casefold() not in a["city_in"]:
        return False
    if "language" in a and c.language != a["language"]:
        return False
    if "birthday_month" in a and (not c.birthday or int(c.birthday[5:7]) != a["birthday_month"]):
        return False
    if _DATE_CONDITIONS[0] in a or _DATE_CONDITIONS[1] in a:
        since = datetime.fromisoformat(c.created_at.replace("Z", "+00:00")).astimezone(zone).date().isoformat()
        if "customer_since_before" in a and not since < a["customer_since_before"]:
            return False
        if "customer_since_after" in a and not since > a["customer_since_after"]:
            return False
    return True


def branches_to_read(audience: Audience) -> list[str] | None:
    """The branches whose customers can match (read their index only), or None: every customer."""
    listed = audience.conditions.get("branch_in")
    return list(listed) if listed else None


# --------------------------------------------------------------------------
# The campaign
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    id: str  # "A", "B", ...
    share: int  # percent of the sent arm; the shares add up to 100
    messages: Mapping[str, str]  # language -> text
    subjects: Mapping[str, str] = field(default_factory=dict)  # email only

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "share": self.share, "messages": dict(self.messages), "subjects": dict(self.subjects)}


@dataclass
class Campaign:
    id: str
    number: int  # short, per deployment: in the opt-out links
    name: str
    channel: str
    purpose: str
    audience: Audience
    variants: list[Variant]  # one (id "A", share 100) when the request gave plain `messages`
    holdout_pct: int
    send_at: str | None
    sender_id: str | None
    max_parts: int
    status: str
    created_by: str
    created_at: str
    updated_at: str
    version: int = 1
    approved_by: str | None = None
    recipients: int | None = None  # set when the audience is fixed (sending starts)
    started_at: str | None = None
    finished_at: str | None = None
    paused_reason: str | None = None
    estimated_recipients: int | None = None  # to send, as estimated when it was scheduled
    audience_fixed: bool = False  # every recipient row is written: sending may start, the audience never changes

    @property
    def etag(self) -> str:
        return etag_for(self.version)

    @property
    def marketing(self) -> bool:
        return self.purpose != Purpose.INFORMATIONAL

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["audience"] = self.audience.to_dict()
        out["variants"] = [v.to_dict() for v in self.variants]
        return out


@dataclass(frozen=True)
class NewCampaign:
    name: str
    channel: str
    purpose: str
    audience: Audience
    variants: list[Variant]
    holdout_pct: int
    send_at: str | None
    sender_id: str | None
    max_parts: int


CHANGEABLE = ("name", "purpose", "audience", "variants", "holdout_pct", "send_at", "sender_id", "max_parts")


@dataclass(frozen=True)
class CampaignChanges:
    """The fields a PATCH sent (only those change)."""

    values: Mapping[str, Any]


def changed(c: Campaign, changes: CampaignChanges, now: str) -> Campaign:
    if c.status != Status.DRAFT:
        raise Conflict(f"A campaign can be changed only while it is a draft; it is {c.status}.", current=c.status)
    fields = {k: v for k, v in changes.values.items() if k in CHANGEABLE}
    # an approval is of what the admin saw: any change asks for it again
    return replace(c, **fields, updated_at=now, version=c.version + 1, approved_by=None)


def transition(c: Campaign, to: str, now: str, **fields: Any) -> Campaign:
    allowed = NEXT[c.status]
    if to not in allowed:
        raise Conflict(f"A {c.status} campaign cannot become {to}; allowed: {', '.join(allowed) or 'none'}.",
                       current=c.status, allowed=list(allowed))
    return replace(c, status=to, updated_at=now, version=c.version + 1, **fields)


def check_roles(new_purpose: str, max_parts: int, is_admin: bool) -> None:
    errors = []
    if new_purpose == Purpose.INFORMATIONAL and not is_admin:
        errors.append(FieldError("purpose", "informational campaigns are an admin's (they skip marketing consent)"))
    if max_parts > 1 and not is_admin:
        errors.append(FieldError("max_parts", "only an admin may allow more than one SMS part"))
    if errors:
        raise Unprocessable(errors, "Only an admin may do this.")


# --------------------------------------------------------------------------
# Texts: placeholders, GSM-7, parts, the opt-out line
# --------------------------------------------------------------------------

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€\f")  # two septets each
PLACEHOLDERS = ("first_name", "branch_name")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
OPT_OUT_LINE = {"id": "Stop promo: {link}", "en": "Opt out: {link}"}
TOKEN_CHARS = 39  # base64url of 29 bytes: customer (16), campaign number (4), channel (1), signature (8)


def septets(text: str) -> int:
    """GSM-7 septets of a text; raises ValueError naming the first character outside GSM-7."""
    count = 0
    for position, ch in enumerate(text):
        if ch in _GSM_BASIC:
            count += 1
        elif ch in _GSM_EXTENDED:
            count += 2
        else:
            raise ValueError(f"character {ch!r} (U+{ord(ch):04X}) at position {position + 1} is not GSM-7: the SMS "
                             "would be sent as UCS-2, 70 characters a part")
    return count


def sms_parts(text: str) -> int:
    n = septets(text)
    return 1 if n <= SMS_PART_SEPTETS else math.ceil(n / SMS_MULTIPART_SEPTETS)


def gsm_safe(text: str) -> str:
    """A name as GSM-7: GSM characters kept (Ñ, é...), others without their accents (ğ -> g), anything else
    dropped (a name never makes an SMS UCS-2)."""
    out = []
    for ch in text:
        if ch not in _GSM_BASIC:
            ch = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append("".join(c for c in ch if c in _GSM_BASIC and c not in "\n\r"))
    return "".join(out)


def first_name_of(name: str) -> str:
    words = gsm_safe(name).split()
    return words[0][:FIRST_NAME_MAX_CHARS] if words else ""


def branch_name_of(branch_id: str) -> str:
    return gsm_safe(branch_id.replace("_", " ").replace("-", " ").title())


def fill(template: str, first_name: str, branch_name: str) -> str:
    return template.replace("{first_name}", first_name).replace("{branch_name}", branch_name)


def opt_out_link(link_base: str, token: str) -> str:
    return f"{link_base.rstrip('/')}/u/{token}"


def sms_text(template: str, language: str, first_name: str, branch_name: str, link: str | None) -> str:
    """The SMS as sent: the filled text, then (marketing) the opt-out line with the recipient's own link."""
    text = fill(template, first_name, branch_name)
    if link is not None:
        text += "\n" + OPT_OUT_LINE.get(language, OPT_OUT_LINE["id"]).format(link=link)
    return text


def check_texts(channel: str, purpose: str, variants: list[Variant], max_parts: int, branches: Iterable[str],
                link_base: str) -> int:
    """Every text, filled for the longest possible name and branch, fits: GSM-7 and `max_parts` SMS parts with
    the opt-out line; an email has a subject per language. Returns the parts per message (the most of any text).
    Unprocessable names the offending text, character or length."""
    errors: list[FieldError] = []
    longest_branch = max((branch_name_of(b) for b in branches), key=len, default="")
    worst_name = "W" * FIRST_NAME_MAX_CHARS
    link = opt_out_link(link_base, "x" * TOKEN_CHARS) if purpose != Purpose.INFORMATIONAL else None
    most = 1
    for v in variants:
        where = "messages" if len(variants) == 1 else f"variants.{v.id}.messages"
        for language in ("id", "en"):
            text = v.messages.get(language)
            if not text or not text.strip():
                errors.append(FieldError(f"{where}.{language}", "a text is required in each language (id, en)"))
                continue
            unknown = [p for p in _PLACEHOLDER.findall(text) if p not in PLACEHOLDERS]
            if unknown:
                errors.append(FieldError(f"{where}.{language}", f"unknown placeholder {{{unknown[0]}}}; known: "
                                         + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)))
                continue
            if channel == Channel.EMAIL:
                if not (v.subjects.get(language) or "").strip():
                    errors.append(FieldError(f"{where.replace('messages', 'subjects')}.{language}",
                                             "an email needs a subject in each language"))
                continue
            full = sms_text(text, language, worst_name, longest_branch, link)
            try:
                n = septets(full)
            except ValueError as exc:
                errors.append(FieldError(f"{where}.{language}", str(exc)))
                continue
            parts = 1 if n <= SMS_PART_SEPTETS else math.ceil(n / SMS_MULTIPART_SEPTETS)
            if parts > max_parts:
                room = SMS_PART_SEPTETS - (n - septets(fill(text, worst_name, longest_branch)))
                errors.append(FieldError(
                    f"{where}.{language}",
                    f"is {n} GSM-7 characters with the longest name ({FIRST_NAME_MAX_CHARS}), the longest branch "
                    f"name and the opt-out line: more than {max_parts} SMS part{'s' if max_parts > 1 else ''}"
                    + (f"; the text may be at most {room} characters once filled" if max_parts == 1 else "")))
                continue
            most = max(most, parts)
    if errors:
        raise Unprocessable(errors, "A message does not fit the channel's rules.")
    return most


# --------------------------------------------------------------------------
# Who gets a message
# --------------------------------------------------------------------------


def _bucket(*parts: str, key: str) -> int:
    """A stable number 0..9999 from the ids: the same ids give the same number in any run or in Athena
    (sha256 of key|parts, first 8 hex digits, mod 10000)."""
    digest = hashlib.sha256("|".join((key, *parts)).encode()).hexdigest()
    return int(digest[:8], 16) % 10000


def in_global_control(customer_id: str, key: str) -> bool:
    return _bucket("control", customer_id, key=key) < GLOBAL_CONTROL_PER_10000


def in_holdout(campaign_id: str, customer_id: str, holdout_pct: int, key: str) -> bool:
    return _bucket("holdout", campaign_id, customer_id, key=key) < holdout_pct * 100


def variant_of(campaign: Campaign, customer_id: str, key: str) -> Variant:
    point = _bucket("variant", campaign.id, customer_id, key=key)
    edge = 0
    for v in campaign.variants:
        edge += v.share * 100
        if point < edge:
            return v
    return campaign.variants[-1]


def address_of(c: Customer, channel: str) -> str | None:
    return c.phone if channel == Channel.SMS else c.email


def consents(c: Customer, channel: str) -> bool:
    entry = c.consent.get(f"{channel}_marketing")
    return bool(entry and entry.value)


def reachable(campaign: Campaign, c: Customer, opted_out: bool) -> Reason | None:
    """Steps 1-3: the channel's address, marketing consent (not for informational), the STOP list (SMS)."""
    if not address_of(c, campaign.channel):
        return Reason.NO_ADDRESS
    if campaign.marketing and not consents(c, campaign.channel):
        return Reason.NO_CONSENT
    if opted_out:
        return Reason.OPTED_OUT
    return None


def arm_of(campaign: Campaign, c: Customer, opted_out: bool, key: str) -> tuple[str, Reason | None]:
    """(arm, reason): "excluded" with a reason of steps 1-3; "control" (step 4); "holdout" (step 5); else
    "send" (the frequency cap and the window are decided when the message is sent)."""
    reason = reachable(campaign, c, opted_out)
    if reason is not None:
        return "excluded", reason
    if campaign.marketing and in_global_control(c.id, key):
        return "control", Reason.GLOBAL_CONTROL
    if in_holdout(campaign.id, c.id, campaign.holdout_pct, key):
        return "holdout", Reason.HOLDOUT
    return "send", None


@dataclass(frozen=True)
class CapRule:
    per_day: int = 1
    per_7_days: int = 3


def capped(days_sent: Iterable[str], today: date, rule: CapRule) -> bool:
    """Whether one more marketing message today would break the cap (days_sent: the local days of the customer's
    marketing messages, one entry per message)."""
    days = list(days_sent)
    week_start = (today - timedelta(days=6)).isoformat()
    today_text = today.isoformat()
    return days.count(today_text) >= rule.per_day or sum(1 for d in days if week_start <= d <= today_text) \
        >= rule.per_7_days


def with_send(days_sent: Iterable[str], today: date) -> list[str]:
    """The customer's marketing days after one more today, trimmed to the last 7 days."""
    week_start = (today - timedelta(days=6)).isoformat()
    return sorted([d for d in days_sent if d >= week_start] + [today.isoformat()])


# --------------------------------------------------------------------------
# When: the send window
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """When marketing may be sent: on `days` (0 = Monday) from `start_hour` until `end_hour` local (24: midnight),
    never on `holidays` (local dates); informational messages wait out the `quiet` hours only (None: never)."""

    days: frozenset[int] = SEND_WINDOW_DAYS
    start_hour: int = SEND_WINDOW_HOURS[0]
    end_hour: int = SEND_WINDOW_HOURS[1]
    holidays: frozenset[str] = frozenset()
    quiet: tuple[int, int] | None = (21, 8)

    def open_at(self, local: datetime, marketing: bool) -> bool:
        if marketing:
            return local.weekday() in self.days and local.date().isoformat() not in self.holidays \
                and self.start_hour <= local.hour < self.end_hour
        if self.quiet is None:
            return True
        start, end = self.quiet
        inside = (local.hour >= start or local.hour < end) if start > end else start <= local.hour < end
        return not inside


def next_opening(moment: datetime, marketing: bool, zone: ZoneInfo, window: Window) -> datetime:
    """`moment` if sending is allowed then, else the first instant it is (on the hour). Never drops: it waits."""
    local = moment.astimezone(zone)
    if window.open_at(local, marketing):
        return moment
    hour = local.replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 21):  # three weeks of hours: longer than any run of holidays we accept
        hour += timedelta(hours=1)
        if window.open_at(hour, marketing):
            return hour
    raise ValueError("no sending window in the next three weeks (holidays?)")


def window_closes(moment: datetime, marketing: bool, zone: ZoneInfo, window: Window) -> datetime | None:
    """When the window open at `moment` closes (None: not within the day)."""
    local = moment.astimezone(zone)
    if marketing:
        if window.end_hour >= 24:
            return None
        return datetime.combine(local.date(), time(window.end_hour), tzinfo=zone)
    if window.quiet is None:
        return None
    start = datetime.combine(local.date(), time(window.quiet[0]), tzinfo=zone)
    return start if start > local else None


# --------------------------------------------------------------------------
# The report's statistics
# --------------------------------------------------------------------------


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2))


def lift(conv_t: int, n_t: int, conv_c: int, n_c: int) -> dict[str, Any]:
    """Conversion rates of the treated (sent) and the holdout, the absolute lift with its 95% interval (normal
    approximation of the difference of two proportions) and the relative lift (absolute / holdout rate, its
    interval the absolute one scaled the same way); `underpowered` when an arm has fewer than 100 people."""
    out: dict[str, Any] = {"treated": {"people": n_t, "conversions": conv_t}, "holdout": {"people": n_c,
                                                                                         "conversions": conv_c},
                           "underpowered": n_t < UNDERPOWERED_BELOW or n_c < UNDERPOWERED_BELOW}
    if n_t == 0 or n_c == 0:
        out.update(rate_treated=None, rate_holdout=None, absolute_lift=None, absolute_lift_ci95=None,
                   relative_lift=None, relative_lift_ci95=None)
        return out
    p1, p0 = conv_t / n_t, conv_c / n_c
    diff = p1 - p0
    se = math.sqrt(p1 * (1 - p1) / n_t + p0 * (1 - p0) / n_c)
    low, high = diff - 1.96 * se, diff + 1.96 * se
    out.update(rate_treated=round(p1, 6), rate_holdout=round(p0, 6), absolute_lift=round(diff, 6),
               absolute_lift_ci95=[round(low, 6), round(high, 6)])
    if p0 > 0:
        out.update(relative_lift=round(diff / p0, 6), relative_lift_ci95=[round(low / p0, 6), round(high / p0, 6)])
    else:
        out.update(relative_lift=None, relative_lift_ci95=None)
    return out


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-squared variable with `df` (1..10) degrees of freedom (closed forms for whole df)."""
    if x <= 0:
        return 1.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= (x / 2) / i
            total += term
        return min(1.0, math.exp(-x / 2) * total)
    total = 2 * (1 - _phi(math.sqrt(x)))
    term = math.sqrt(x) * math.exp(-x / 2) / math.sqrt(2 * math.pi) * 2
    for k in range(1, (df - 1) // 2 + 1):
        total += term
        term *= x / (2 * k + 1)
    return min(1.0, max(0.0, total))


def compare_variants(rows: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Variants' (id, people, conversions) by a chi-squared test of independence; a winner (the best rate) only
    at p < 0.05."""
    rows = [r for r in rows if r[1] > 0]
    total_n = sum(n for _, n, _ in rows)
    total_c = sum(c for _, _, c in rows)
    if len(rows) < 2 or total_c == 0 or total_c == total_n:
        return {"chi_squared": None, "df": None, "p_value": None, "winner": None}
    stat = 0.0
    for _, n, c in rows:
        for observed, share in ((c, total_c / total_n), (n - c, 1 - total_c / total_n)):
            expected = n * share
            stat += (observed - expected) ** 2 / expected
    df = len(rows) - 1
    p = chi2_sf(stat, df)
    best = max(rows, key=lambda r: r[2] / r[1])
    return {"chi_squared": round(stat, 4), "df": df, "p_value": round(p, 6), "winner": best[0] if p < 0.05 else None}


def mask_phone(phone: str) -> str:
    return "•" * max(0, len(phone) - 4) + phone[-4:]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return "•" * max(0, len(local + domain) + 1 - 4) + (local + "@" + domain)[-4:]


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


@dataclass
class Recipient:
    """One person the audience matched, as fixed when sending started."""

    campaign_id: str
    customer_id: str
    branch_id: str
    arm: str  # send | control | holdout | excluded
    status: str  # queued, accepted, failed, delivered, undelivered, capped, withdrawn; else the arm or "excluded"
    snapshot_at: str
    reason: str | None = None
    variant: str | None = None
    parts: int | None = None
    sent_at: str | None = None
    final_at: str | None = None
    error_code: str | None = None
    opted_out_at: str | None = None

    @property
    def sent(self) -> bool:
        return self.status in SENT_STATUSES or self.status == "failed"

    def to_timeline_item(self) -> dict[str, Any]:
        """What the customer's timeline shows of a campaign message sent to them (not the text: the campaign's)."""
        return {"type": "campaign_message", "campaign_id": self.campaign_id, "status": self.status,
                "variant": self.variant, "sent_at": self.sent_at or self.snapshot_at,
                "opted_out_at": self.opted_out_at}


SENT_STATUSES = ("accepted", "delivered", "undelivered")  # handed to the sending service


def unknown_receipts(counts: Mapping[str, int], now: datetime) -> int:
    """Messages accepted more than UNKNOWN_AFTER_HOURS ago with no final receipt: per UTC hour of acceptance, the
    accepted (`a.<hour>`) less those whose receipt came (`r.<hour>`), over the hours wholly that old."""
    cutoff = (now - timedelta(hours=UNKNOWN_AFTER_HOURS + 1)).strftime("%Y-%m-%dT%H")
    return sum(max(n - counts.get(f"r.{k[2:]}", 0), 0) for k, n in counts.items()
               if k.startswith("a.") and k[2:] <= cutoff)


def snapshot_tally(r: Recipient) -> list[str]:
    """The report counters a recipient row adds to when the audience is fixed."""
    if r.arm == "excluded":
        return ["matched", f"excluded.{r.reason}"]
    return ["matched", "eligible", r.arm if r.arm in ("control", "holdout") else "to_send"]


def send_tally(r: Recipient) -> list[str]:
    """The counters a row of the send arm adds to once the sender is done with it (its page counted once)."""
    if r.status in SENT_STATUSES:  # and the hour it was accepted in (for `unknown`: see unknown_receipts)
        return ["sent", "accepted", f"a.{(r.sent_at or r.snapshot_at)[:13]}"]
    if r.status == "failed":
        return ["sent", "failed", f"failed.{r.error_code or 'unknown'}"]
    if r.status in ("capped", "withdrawn"):
        return [r.status]
    return []
