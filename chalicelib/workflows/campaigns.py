"""Sending a campaign: the state machine (campaigns.asl.json) and the function it calls (`campaign-sender` in
app.py), the audience's resolution shared by the preview and the sending, and the opt-out links.

The state machine waits until `send_at`, then calls the sender again and again with a small state (the campaign
id, the phase, a page position; never a customer's data) until the sender says it is done, stopped, or must wait
for the send window to open (a Wait state until then: nothing is dropped). Each call works at most
CAMPAIGN_STEP_SECONDS:

1. `start`: scheduled -> sending (a paused, cancelled or draft campaign stops the execution).
2. `snapshot`: the audience is read from the customers' indexes (the branches it names, else all), page by page;
   each match gets its row (`R#<customer>`) with its arm: excluded (no address, no consent, opted out), the
   global control group, the campaign's holdout, or "queued" (to send) with its variant. Each page's counts are
   added once. Then the audience is fixed: `recipients` on the campaign.
3. `send`: the rows in key order, a page at a time. For each queued row, the profile, the cap item and (SMS) the
   STOP list are read in batches; consent, address and opt-out are checked again (changed since the snapshot:
   "withdrawn"), the frequency cap is applied (capped), and the claim is one transaction: the profile unchanged,
   the cap item at the version read (one more day on it) and the row queued -> accepted. Only then is the
   message handed to SNS (SMS) or SES (email); a failure marks the row failed with the service's code. Rows
   not queued (claimed before) are never sent again: a retried call, a second execution or a resume sends
   nothing twice. The rate: each second's parts are reserved on a shared item (`RATE#<channel>#<second>`), so
   campaigns sending at once share CAMPAIGN_SMS_PARTS_PER_SECOND.
4. After each page: a campaign whose last AUTO_PAUSE_WINDOW sends failed AUTO_PAUSE_FAILED_SHARE or more pauses
   itself and tells ops; the end of the rows completes it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import (
    CAMPAIGN_SEND_PAGE,
    CAMPAIGN_SNAPSHOT_PAGE,
    CAMPAIGN_STEP_SECONDS,
    PREVIEW_SAMPLE,
    campaign_limits,
    settings,
)
from chalicelib.domain import campaigns as rules
from chalicelib.domain.campaigns import Campaign, Recipient, Status
from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import Conflict, PreconditionFailed

UNSETTLED = "?"  # a row's status as this step last saw it, when another execution moved it meanwhile

# --------------------------------------------------------------------------------------------- opt-out links

_CHANNEL_BYTE = {"sms": 0, "email": 1}
_OPT_OUT = b"optout"  # what the links' signature is for (chalicelib/links.py)
_BODY_BYTES = 21  # customer (16), campaign number (4), channel (1)


def link_token(customer_id: str, campaign_number: int, channel: str) -> str:
    """39 characters: the customer's ULID (16 bytes), the campaign's number (4), the channel (1), the signature
    (8 bytes of HMAC-SHA256 with the link key: chalicelib/links.py)."""
    from ulid import ULID

    from chalicelib import links

    body = ULID.from_str(customer_id).bytes + campaign_number.to_bytes(4, "big") + bytes([_CHANNEL_BYTE[channel]])
    token = links.sign(_OPT_OUT, body)
    assert len(token) == rules.TOKEN_CHARS
    return token


@dataclass(frozen=True)
class LinkOwner:
    customer_id: str
    campaign_number: int
    channel: str


def read_token(token: str) -> LinkOwner | None:
    """The link's customer, campaign and channel; None for anything altered or forged."""
    from ulid import ULID

    from chalicelib import links

    body = links.verified(_OPT_OUT, token, _BODY_BYTES)
    if body is None:
        return None
    channel = {v: k for k, v in _CHANNEL_BYTE.items()}.get(body[20])
    if channel is None:
        return None
    return LinkOwner(str(ULID.from_bytes(body[:16])), int.from_bytes(body[16:20], "big"), channel)


def link_for(customer_id: str, campaign: Campaign) -> str:
    return rules.opt_out_link(settings().link_base, link_token(customer_id, campaign.number, campaign.channel))


# --------------------------------------------------------------------------------------------- the audience


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings().timezone)


def send_window() -> rules.Window:
    limits = campaign_limits()
    return rules.Window(days=limits.send_days, start_hour=limits.send_hours[0], end_hour=limits.send_hours[1],
                        holidays=limits.holidays, quiet=settings().quiet_hours)


@dataclass
class AudiencePage:
    source: int  # which of the campaign's sources (a branch's index, or all customers)
    start: Any  # the page's start key (None: the source's first page)
    next: Any  # the next page's start key (None: the source is done)
    customers: list[Customer]


def _sources(campaign: Campaign) -> list[str | None]:
    branches: list[str | None] = list(rules.branches_to_read(campaign.audience) or [])
    return branches or [None]


def audience_page(campaign: Campaign, source: int, start: Any) -> AudiencePage:
    from chalicelib.persistence import customers

    found, next_key = customers.list_page(branch=_sources(campaign)[source], stage=None, tag=None,
                                          limit=CAMPAIGN_SNAPSHOT_PAGE, start_key=start)
    return AudiencePage(source, start, next_key, found)


def audience_pages(campaign: Campaign) -> Iterator[AudiencePage]:
    for source in range(len(_sources(campaign))):
        start = None
        while True:
            page = audience_page(campaign, source, start)
            yield page
            if page.next is None:
                break
            start = page.next


def decide(campaign: Campaign, customers: list[Customer], snapshot_at: str) -> list[Recipient]:
    """The rows of the customers the audience matches: steps 1-5 of who gets a message."""
    from chalicelib.persistence import campaigns as repo
    from chalicelib.persistence import consent

    zone, key = local_zone(), campaign_limits().assignment_key
    matched = [c for c in customers if rules.matches(campaign.audience, c, zone)]
    if rules.needs_facts(campaign.audience) and matched:  # one more item read for those the profile matched
        facts = repo.audience_facts_of([c.id for c in matched])
        matched = [c for c in matched if rules.matches_facts(campaign.audience, facts.get(c.id, rules.NO_FACTS))]
    opted: set[str] = set()
    if campaign.channel == rules.Channel.SMS:
        opted, _ = consent.sms_opted_out_among(c.phone for c in matched if c.phone)
    rows = []
    for c in matched:
        arm, reason = rules.arm_of(campaign, c, c.phone in opted, key)
        rows.append(Recipient(
            campaign_id=campaign.id, customer_id=c.id, branch_id=c.branch_id, arm=arm,
            status="queued" if arm == "send" else arm, snapshot_at=snapshot_at,
            reason=reason.value if reason else None,
            variant=rules.variant_of(campaign, c.id, key).id if arm == "send" else None))
    return rows


def _counts(rows: list[Recipient], tally: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for r in rows:
        for name in tally(r):
            counts[name] += 1
            counts[f"b.{r.branch_id}.{name}"] += 1
            if r.variant:
                counts[f"v.{r.variant}.{name}"] += 1
    return counts


def preview(campaign: Campaign, *, max_customers: int | None = None) -> dict[str, Any] | None:
    """What sending would do now: the same decisions, the frequency cap as it stands, nothing written. None when
    the audience's sources hold more than `max_customers` customers (the caller hands it to the background)."""
    from chalicelib.persistence import campaigns as repo

    limits = campaign_limits()
    rule = rules.CapRule(limits.cap_per_day, limits.cap_per_7_days)
    today = rules.local_day(utcnow(), local_zone())
    matched, items_read = 0, 0
    excluded: Counter[str] = Counter()
    to_send = 0
    sample: list[dict[str, Any]] = []
    by_id: dict[str, Customer] = {}
    for page in audience_pages(campaign):
        items_read += len(page.customers)
        if max_customers is not None and items_read > max_customers:
            return None
        rows = decide(campaign, page.customers, iso(utcnow()))
        matched += len(rows)
        sending = [r for r in rows if r.arm == "send"]
        for r in rows:
            if r.arm != "send":
                excluded[r.reason or r.arm] += 1
        caps = repo.caps_of([r.customer_id for r in sending]) if campaign.marketing else {}
        by_id = {c.id: c for c in page.customers}
        for r in sending:
            if campaign.marketing and rules.capped(caps.get(r.customer_id, ([], 0))[0], today, rule):
                excluded[rules.Reason.FREQUENCY_CAP] += 1
                continue
            to_send += 1
            if len(sample) < PREVIEW_SAMPLE:
                c = by_id[r.customer_id]
                address = rules.address_of(c, campaign.channel) or ""
                sample.append({"customer_id": c.id, "branch_id": c.branch_id, "language": c.language,
                               "variant": r.variant, "address": rules.mask_phone(address)
                               if campaign.channel == rules.Channel.SMS else rules.mask_email(address)})
    parts = rules.check_texts(campaign.channel, campaign.purpose, campaign.variants, campaign.max_parts,
                              settings().branches, settings().link_base)
    rate = limits.sms_parts_per_second if campaign.channel == rules.Channel.SMS else limits.emails_per_second
    estimated_parts = to_send * parts if campaign.channel == rules.Channel.SMS else 0
    unreachable = sum(excluded[r] for r in rules.NOT_REACHABLE)
    return {
        "matched": matched, "eligible": matched - unreachable, "to_send": to_send,
        "excluded": {r.value: excluded.get(r.value, 0) for r in rules.Reason if r != rules.Reason.WITHDRAWN},
        "parts_per_message": parts if campaign.channel == rules.Channel.SMS else None,
        "estimated_parts": estimated_parts,
        "estimated_cost": estimated_parts * limits.sms_price_per_part_idr,
        "estimated_duration_s": round((estimated_parts if campaign.channel == rules.Channel.SMS else to_send)
                                      / rate, 1),
        "sample": sample, "customers_read": items_read,
    }


# --------------------------------------------------------------------------------------------- starting


def execution_name(campaign: Campaign) -> str:
    """One execution per campaign version that (re)started it: a double schedule or resume starts one."""
    return f"campaign-{campaign.id}-v{campaign.version}"


def start(campaign: Campaign) -> str:
    from chalicelib.workflows.executions import start_once

    s = settings()
    if not s.campaign_state_machine_arn:
        raise RuntimeError("CAMPAIGN_STATE_MACHINE_ARN is not set")
    send_at = campaign.send_at or iso(utcnow())
    return start_once(s.campaign_state_machine_arn, execution_name(campaign),
                      {"campaign_id": campaign.id, "function": s.campaign_sender_function, "send_at": send_at,
                       "phase": "start", "source": 0, "cursor": None})


# --------------------------------------------------------------------------------------------- the sender


def _next(state: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**state, **changes}


def step(state: dict[str, Any], *, deadline_s: float = CAMPAIGN_STEP_SECONDS) -> dict[str, Any]:
    """One call of the sender: works until done or `deadline_s`, returns the state for the next call with `next`:
    "step" (call again), "wait" (until `until`, then call again), "done" or "stop"."""
    from chalicelib.persistence import campaigns as repo

    started = time.monotonic()
    campaign = repo.get(state["campaign_id"], consistent=True)
    if campaign is None:
        return _next(state, next="stop", why="gone")
    if state["phase"] == "start":
        if campaign.status == Status.SCHEDULED:
            now = iso(utcnow())
            try:
                repo.save(rules.transition(campaign, Status.SENDING, now, started_at=campaign.started_at or now),
                          expected_version=campaign.version)
            except PreconditionFailed:
                return _next(state, next="step")  # changed meanwhile: look again
            campaign = repo.get(campaign.id, consistent=True) or campaign
        if campaign.status != Status.SENDING:
            return _next(state, next="stop", why=campaign.status)
        state = _next(state, phase="send" if campaign.audience_fixed else "snapshot", source=0, cursor=None)
    if campaign.status != Status.SENDING:
        return _next(state, next="stop", why=campaign.status)
    if state["phase"] == "snapshot" and campaign.audience_fixed:  # a retried or outrun step: never write rows again
        state = _next(state, phase="send", source=0, cursor=None)
    while True:  # at least one page, then as many as fit in deadline_s
        if state["phase"] == "snapshot":
            state = _snapshot_page(campaign, state)
            if state["phase"] == "send":
                return state  # the audience is fixed: sending starts in a call of its own (a retry re-sends none)
        else:
            state = _send_page(campaign, state, started + deadline_s)
        if state.get("next") in ("done", "stop", "wait") or time.monotonic() - started >= deadline_s:
            return state


def _snapshot_page(campaign: Campaign, state: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.persistence import campaigns as repo

    page = audience_page(campaign, state["source"], state["cursor"])
    rows = decide(campaign, page.customers, iso(utcnow()))
    repo.put_recipients(rows)
    page_key = "s|" + hashlib.sha256(json.dumps([state["source"], state["cursor"]], sort_keys=True).encode()
                                     ).hexdigest()[:24]
    repo.add_counts(campaign.id, page_key, _counts(rows, rules.snapshot_tally))
    if page.next is not None:
        return _next(state, cursor=page.next, next="step")
    if state["source"] + 1 < len(_sources(campaign)):
        return _next(state, source=state["source"] + 1, cursor=None, next="step")
    counted, _ = repo.counts(campaign.id, consistent=True)
    repo.mark_audience_fixed(campaign.id, counted.get("matched", 0))
    return _next(state, phase="send", source=0, cursor=None, next="step")


class _Pacer:
    """Takes each message's parts from the channel's shared per-second budget. A sender reserves a second's
    whole rate at once (one write a second, not one a message) and hands its parts out; a second that is full
    (another campaign took it) or over is waited out. A message is handed over only in the first half of the
    second it was counted in, so however long the hand-over takes (a busy machine, a slow network) it lands in
    that second; parts reserved and not used in time are simply not used."""

    HAND_OVER_WITHIN_S = 0.5

    def __init__(self, channel: str, rate: int) -> None:
        self.channel, self.rate = channel, rate
        self.second, self.left = -1, 0

    def take(self, parts: int) -> None:
        from chalicelib.persistence import campaigns as repo

        while True:
            now = time.time()
            second = int(now)
            if now - second <= self.HAND_OVER_WITHIN_S:
                if second == self.second and self.left >= parts:
                    self.left -= parts
                    return
                if second != self.second:
                    self.second, self.left = second, 0
                    chunk = max(parts, self.rate)
                    if repo.reserve_rate(self.channel, second, chunk, self.rate) \
                            and time.time() - second <= self.HAND_OVER_WITHIN_S:
                        self.left = chunk - parts
                        return
            time.sleep(max(0.0, second + 1 - time.time()) + 0.001)


def _send_page(campaign: Campaign, state: dict[str, Any], deadline: float) -> dict[str, Any]:
    from chalicelib.persistence import campaigns as repo
    from chalicelib.persistence import consent, customers

    zone, limits = local_zone(), campaign_limits()
    marketing = campaign.marketing
    window = send_window()
    now = utcnow()
    opening = rules.next_opening(now, marketing, zone, window)
    if opening > now:
        return _next(state, next="wait", until=iso(opening))
    closes = rules.window_closes(now, marketing, zone, window)
    rows, next_key = repo.recipients_page(campaign.id, state["cursor"], CAMPAIGN_SEND_PAGE)
    queued = [r for r in rows if r.status == "queued"]
    profiles = customers.get_many([r.customer_id for r in queued]) if queued else {}
    caps = repo.caps_of([r.customer_id for r in queued]) if queued and marketing else {}
    opted: set[str] = set()
    if queued and campaign.channel == rules.Channel.SMS:
        opted, _ = consent.sms_opted_out_among(c.phone for c in profiles.values() if c.phone)
    rule = rules.CapRule(limits.cap_per_day, limits.cap_per_7_days)
    rate = limits.sms_parts_per_second if campaign.channel == rules.Channel.SMS else limits.emails_per_second
    pacer = _Pacer(campaign.channel, rate)
    outcomes: list[str] = []
    cut_short = False
    for r in queued:
        moment = utcnow()
        if (closes is not None and moment >= closes) or time.monotonic() >= deadline:
            cut_short = True
            break
        outcome = _send_one(campaign, r, profiles, caps, opted, rule, moment, zone, pacer)
        if outcome == "stopped":  # paused or cancelled: the page is counted by whoever goes on with it
            return _next(state, next="stop", why="not sending")
        if outcome == "retry":
            cut_short = True  # still queued: the page is done again (the rows handled are not queued any more)
        elif outcome:
            outcomes.append(outcome)
    if cut_short:
        # The page is done again from its start: rows handled now are no longer queued.
        now = utcnow()
        opening = rules.next_opening(now, marketing, zone, window)
        return _next(state, next="wait" if opening > now else "step", until=iso(opening))
    # Every row of the page is settled: count it once (a retried page counts nothing twice).
    # What each row of the send arm became: known here, but for rows another execution moved (read back).
    settled = {r.customer_id: r for r in rows if r.arm == "send"}
    unsettled = [customer_id for customer_id, r in settled.items() if r.status == UNSETTLED]
    if unsettled:
        settled.update(repo.recipients_of(campaign.id, unsettled))
    counts = _counts(list(settled.values()), rules.send_tally)
    for r in settled.values():  # sends per hour (UTC), for the report's chart
        if r.sent_at and r.status != "queued":
            counts[f"t.{r.sent_at[:13]}"] += 1
    _, recent = repo.counts(campaign.id, consistent=True)
    recent = (recent + "".join(outcomes))[-rules.AUTO_PAUSE_WINDOW:]
    parts = 0
    for r in settled.values():  # the parts handed over (a failed send cost nothing), for the cost and the budget
        if r.status in rules.SENT_STATUSES and r.parts:
            parts += r.parts
            counts["parts"] += r.parts
            counts[f"b.{r.branch_id}.parts"] += r.parts
            if r.variant:
                counts[f"v.{r.variant}.parts"] += r.parts
    spend = (f"SPEND#{campaign.channel}#{now.astimezone(zone).strftime('%Y-%m')}",
             parts * limits.sms_price_per_part_idr) if campaign.channel == rules.Channel.SMS else None
    page_key = "p|" + (rows[0].customer_id if rows else "end")
    repo.add_counts(campaign.id, page_key, counts, recent=recent, spend=spend)
    if len(recent) >= 20 and recent.count("1") / len(recent) >= rules.AUTO_PAUSE_FAILED_SHARE:
        _pause_for_failures(campaign, recent)
        return _next(state, next="stop", why="failures")
    if next_key is not None:
        return _next(state, cursor=next_key, next="step")
    fresh = repo.get(campaign.id, consistent=True)
    if fresh is not None and fresh.status == Status.SENDING:
        try:
            repo.save(rules.transition(fresh, Status.COMPLETED, iso(utcnow()), finished_at=iso(utcnow())),
                      expected_version=fresh.version)
        except (PreconditionFailed, Conflict):
            return _next(state, next="step")  # paused or cancelled meanwhile: the next call sees it
    return _next(state, next="done")


def _send_one(campaign: Campaign, r: Recipient, profiles: dict[str, Customer],
              caps: dict[str, tuple[list[str], int]], opted: set[str], rule: rules.CapRule, moment: datetime,
              zone: ZoneInfo, pacer: _Pacer) -> str | None:
    """One queued row: withdrawn, capped, or claimed and sent. Returns "0" (sent), "1" (failed), None (not sent),
    "stopped" (the campaign is no longer sending: nothing claimed) or "retry" (the profile or the cap kept
    changing under the claim: the row stays queued)."""
    from chalicelib.persistence import campaigns as repo
    from chalicelib.persistence import consent, customers

    for _attempt in range(5):
        c = profiles.get(r.customer_id)
        if c is None or rules.reachable(campaign, c, c.phone in opted) is not None:
            moved = repo.set_status(r, expected="queued", status="withdrawn", reason=rules.Reason.WITHDRAWN.value)
            r.status = "withdrawn" if moved else UNSETTLED
            return None
        today = moment.astimezone(zone).date()
        days, version = caps.get(r.customer_id, ([], 0))
        if campaign.marketing and rules.capped(days, today, rule):
            moved = repo.set_status(r, expected="queued", status="capped", reason=rules.Reason.FREQUENCY_CAP.value)
            r.status = "capped" if moved else UNSETTLED
            return None
        variant = next((v for v in campaign.variants if v.id == r.variant), campaign.variants[0])
        language = c.language if c.language in variant.messages else "id"
        link = link_for(c.id, campaign) if campaign.marketing else None
        first, branch = rules.first_name_of(c.name), rules.branch_name_of(c.branch_id)
        if campaign.channel == rules.Channel.SMS:
            text = rules.sms_text(variant.messages[language], language, first, branch, link)
            parts = rules.sms_parts(text)
        else:
            text = rules.fill(variant.messages[language], first, branch)
            parts = 1
        claimed = repo.claim_send(r, profile_version=c.version,
                                  cap=(rules.with_send(days, today), version) if campaign.marketing else None,
                                  sent_at=iso(moment), parts=parts, variant=variant.id)
        if claimed == "taken":
            r.status = UNSETTLED  # another execution's: its row is read back for the page's counts
            return None
        if claimed == "stopped":
            return "stopped"
        if claimed == "stale":  # the profile or the cap changed since the batch read: read them again
            fresh = customers.get(r.customer_id, consistent=True)
            profiles[r.customer_id] = fresh  # type: ignore[assignment]
            if fresh is not None and campaign.channel == rules.Channel.SMS and consent.sms_opted_out(fresh.phone):
                opted.add(fresh.phone)
            caps.update(repo.caps_of([r.customer_id]))
            time.sleep(0.01 * (_attempt + 1))
            continue
        r.status, r.parts, r.sent_at, r.variant = "accepted", parts, iso(moment), variant.id
        pacer.take(parts)
        return _deliver(campaign, r, c, variant, language, text, link)
    return "retry"


def _deliver(campaign: Campaign, r: Recipient, c: Customer, variant: rules.Variant, language: str, text: str,
             link: str | None) -> str:
    from chalicelib import messaging
    from chalicelib.aws import error_code
    from chalicelib.persistence import campaigns as repo

    context = {"campaign": campaign.id, "customer": c.id}  # the receipts find the row by these
    try:
        if campaign.channel == rules.Channel.SMS:
            messaging.send_sms(c.phone, text, transactional=False, sender_id=campaign.sender_id, context=context)
        else:
            headers = None
            if link is not None:
                text += "\n\n" + rules.OPT_OUT_LINE.get(language, rules.OPT_OUT_LINE["id"]).format(link=link)
                headers = {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
            messaging.send_email(c.email or "", variant.subjects.get(language) or campaign.name, text,
                                 headers=headers, context=context)
    except Exception as exc:
        cause = exc.__cause__
        code = error_code(cause) if isinstance(cause, Exception) else type(exc).__name__
        moved = repo.set_status(r, expected="accepted", status="failed", error_code=code or "unknown",
                                final_at=iso(utcnow()))
        r.status, r.error_code = ("failed", code or "unknown") if moved else (UNSETTLED, None)
        return "1"
    return "0"


def _pause_for_failures(campaign: Campaign, recent: str) -> None:
    from chalicelib.persistence import campaigns as repo

    fresh = repo.get(campaign.id, consistent=True)
    if fresh is None or fresh.status != Status.SENDING:
        return
    try:
        repo.save(rules.transition(fresh, Status.PAUSED, iso(utcnow()), paused_reason="failures"),
                  expected_version=fresh.version)
    except (PreconditionFailed, Conflict):
        return
    ops = settings().ops_topic_arn
    if ops:
        from chalicelib.aws import client

        failed = recent.count("1")
        client("sns").publish(TopicArn=ops, Subject="Relasi: a campaign paused itself",
                              Message=f"Campaign {campaign.id} ({campaign.number}) paused: {failed} of its last "
                                      f"{len(recent)} sends failed. Resume it once the cause is fixed; "
                                      "nothing is sent twice.")


def request_preview(campaign: Campaign, request_id: str) -> None:
    """Ask the campaign sender (an asynchronous invocation) to preview the campaign in the background."""
    from chalicelib.aws import client

    client("lambda").invoke(FunctionName=settings().campaign_sender_function, InvocationType="Event",
                            Payload=json.dumps({"preview": {"campaign_id": campaign.id, "version": campaign.version,
                                                            "request_id": request_id}}).encode())


def _preview_in_background(request: dict[str, Any]) -> dict[str, Any]:
    """The whole preview of the version asked for, stored if that request is still the latest."""
    from chalicelib.persistence import campaigns as repo

    campaign = repo.get(request["campaign_id"], consistent=True)
    if campaign is None or campaign.version != request["version"]:
        return {"previewed": False}  # changed since: its next preview is asked for anew
    result = preview(campaign)
    stored = repo.preview_done(campaign.id, request["request_id"], result or {})
    return {"previewed": stored}


def request_test_send(campaign: Campaign, addresses: list[str], branch: str) -> dict[str, Any]:
    """Ask the campaign sender (RequestResponse) to send the campaign's texts to staff addresses."""
    from chalicelib.aws import client
    from chalicelib.domain.errors import ServiceUnavailable

    answer = client("lambda").invoke(FunctionName=settings().campaign_sender_function, Payload=json.dumps(
        {"test_send": {"campaign_id": campaign.id, "addresses": addresses, "branch": branch}}).encode())
    if answer.get("FunctionError"):
        raise ServiceUnavailable("The test messages could not be sent; retry.")
    result: dict[str, Any] = json.loads(answer["Payload"].read())
    return result


def _test_send(request: dict[str, Any]) -> dict[str, Any]:
    """Each variant's text in each language to each address, marked [TEST], filled with a sample name."""
    from chalicelib import messaging
    from chalicelib.persistence import campaigns as repo

    campaign = repo.get(request["campaign_id"])
    if campaign is None:
        return {"sent": 0, "addresses": 0}
    sent = 0
    branch = rules.branch_name_of(request["branch"])
    for address in request["addresses"][:rules.TEST_SEND_MAX]:
        for v in campaign.variants:
            for language in ("id", "en"):
                text = "[TEST] " + rules.fill(v.messages[language], "Budi", branch)
                if campaign.channel == rules.Channel.SMS:
                    messaging.send_sms(address, text, transactional=False, sender_id=campaign.sender_id)
                else:
                    messaging.send_email(address, "[TEST] " + (v.subjects.get(language) or campaign.name), text)
                sent += 1
    return {"sent": sent, "addresses": len(request["addresses"])}


def on_invoke(event: dict[str, Any]) -> dict[str, Any]:
    """The `campaign-sender` function: one step of a campaign's state machine, or the API's test-send or
    background preview."""
    from chalicelib.observability import flush, logger

    if "test_send" in event:
        return _test_send(event["test_send"])
    if "preview" in event:
        return _preview_in_background(event["preview"])
    result = step(event)
    logger().info("campaign step", extra={"campaign_id": result.get("campaign_id"), "phase": result.get("phase"),
                                          "next": result.get("next")})
    flush()
    return result

