"""Campaign use cases: write a draft, preview it, schedule, pause, resume, cancel, approve, test-send, read the
report; and the public opt-out link (no caller: the signed token is the permission)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from chalicelib.config import campaign_limits, settings
from chalicelib.domain import campaigns as rules
from chalicelib.domain.access import Access, Role
from chalicelib.domain.campaigns import Campaign, CampaignChanges, NewCampaign, Status
from chalicelib.domain.clock import is_id, iso, new_id, parse_iso, utcnow
from chalicelib.domain.consent import ConsentGiven
from chalicelib.domain.errors import Conflict, FieldError, NotFound, Unprocessable
from chalicelib.domain.versions import require_if_match
from chalicelib.persistence import campaigns as repo
from chalicelib.persistence.paging import RawKey
from chalicelib.workflows import campaigns as sending


def _is_admin(access: Access) -> bool:
    return Role.ADMIN in access.principal.roles


def _checked(access: Access, channel: str, purpose: str, variants: list[rules.Variant], max_parts: int) -> None:
    rules.check_roles(purpose, max_parts, _is_admin(access))
    s = settings()
    rules.check_texts(channel, purpose, variants, max_parts, s.branches, s.link_base)


def create(access: Access, new: NewCampaign) -> Campaign:
    _checked(access, new.channel, new.purpose, new.variants, new.max_parts)
    now = iso(utcnow())
    campaign = Campaign(id=new_id(), number=repo.next_number(), name=new.name, channel=new.channel,
                        purpose=new.purpose, audience=new.audience, variants=new.variants,
                        holdout_pct=new.holdout_pct, send_at=new.send_at, sender_id=new.sender_id,
                        max_parts=new.max_parts, status=Status.DRAFT, created_by=access.principal.sub,
                        created_at=now, updated_at=now)
    repo.create(campaign)
    return campaign


def get(access: Access, campaign_id: str) -> Campaign:
    if not is_id(campaign_id):
        raise NotFound("No such record.")  # no campaign can have it (and it reaches no key)
    campaign = repo.get(campaign_id)
    if campaign is None:
        raise NotFound("No such record.")
    return campaign


def list_page(access: Access, limit: int, start_key: RawKey | None) -> tuple[list[Campaign], RawKey | None]:
    return repo.list_page(limit, start_key)


def update(access: Access, campaign_id: str, if_match: str | None, changes: CampaignChanges) -> Campaign:
    current = get(access, campaign_id)
    require_if_match(if_match, current.version, "campaign")
    updated = rules.changed(current, changes, iso(utcnow()))
    _checked(access, updated.channel, updated.purpose, updated.variants, updated.max_parts)
    repo.save(updated, expected_version=current.version)
    return updated


def preview(access: Access, campaign_id: str) -> tuple[int, dict[str, Any]]:
    """What sending would do now (a preview changes no ETag): (200, the preview), or, when the audience's sources
    hold more customers than a request may read, (202, where it stands) while the campaign sender computes it in
    the background (GET .../preview then answers it)."""
    from chalicelib.config import PREVIEW_KEEP_SECONDS

    campaign = get(access, campaign_id)
    result = sending.preview(campaign, max_customers=campaign_limits().preview_sync_customers)
    if result is not None:
        return 200, result
    now = utcnow()
    request_id = new_id()
    repo.preview_requested(campaign.id, campaign.version, request_id, iso(now),
                           int(now.timestamp()) + PREVIEW_KEEP_SECONDS)
    sending.request_preview(campaign, request_id)
    return 202, {"status": "running", "campaign_version": campaign.version, "requested_at": iso(now)}


def _estimate(campaign: Campaign) -> dict[str, Any]:
    """The preview scheduling judges by: computed now, or for an audience too large for a request, the finished
    background preview of this very version (409 preview_required without one)."""
    estimate = sending.preview(campaign, max_customers=campaign_limits().preview_sync_customers)
    if estimate is not None:
        return estimate
    stored = repo.stored_preview(campaign.id)
    if stored is None or stored.version != campaign.version or stored.result is None:
        raise Conflict("The audience is too large to preview while scheduling: POST "
                       f"/campaigns/{campaign.id}/preview, wait until GET /campaigns/{campaign.id}/preview answers "
                       "200, then schedule.", reason="preview_required")
    return stored.result


def stored_preview(access: Access, campaign_id: str) -> tuple[int, dict[str, Any]]:
    """The latest background preview of the campaign's current version: (200, the preview) once done, (202, where
    it stands) while running; NotFound when none was asked for this version; ServiceUnavailable when it did not
    finish in PREVIEW_GIVE_UP_SECONDS (ask again)."""
    from chalicelib.config import PREVIEW_GIVE_UP_SECONDS
    from chalicelib.domain.errors import ServiceUnavailable

    campaign = get(access, campaign_id)
    stored = repo.stored_preview(campaign.id)
    if stored is None or stored.version != campaign.version:
        raise NotFound("No preview of this version of the campaign; POST .../preview to ask for one.")
    if stored.result is not None:
        return 200, stored.result
    if utcnow() - parse_iso(stored.requested_at) > timedelta(seconds=PREVIEW_GIVE_UP_SECONDS):
        raise ServiceUnavailable("The preview did not finish; POST .../preview to ask again.")
    return 202, {"status": "running", "campaign_version": stored.version, "requested_at": stored.requested_at}


def _with(c: Campaign, **fields: Any) -> Campaign:
    from dataclasses import replace

    return replace(c, **fields, version=c.version + 1, updated_at=iso(utcnow()))


def _informational_is_admins(access: Access, c: Campaign) -> None:
    """An informational campaign skips marketing consent: only an admin writes, schedules or resumes one."""
    if not c.marketing and not _is_admin(access):
        from chalicelib.domain.errors import Forbidden

        raise Forbidden("Only an admin may schedule or resume an informational campaign.")


def _move(access: Access, campaign_id: str, if_match: str | None, to: str, **fields: Any) -> Campaign:
    current = get(access, campaign_id)
    if to == Status.SENDING:
        _informational_is_admins(access, current)
    if if_match is not None:
        require_if_match(if_match, current.version, "campaign")
    moved = rules.transition(current, to, iso(utcnow()), **fields)
    repo.save(moved, expected_version=current.version)
    return moved


def schedule(access: Access, campaign_id: str, if_match: str | None) -> Campaign:
    """draft -> scheduled: the texts still fit, an admin approved it if it reaches more than
    APPROVAL_ABOVE_RECIPIENTS people, its estimated SMS cost fits what is left of the month's budget; then its
    execution starts (it waits until `send_at`)."""
    current = get(access, campaign_id)
    if if_match is not None:
        require_if_match(if_match, current.version, "campaign")
    _informational_is_admins(access, current)
    if current.status != Status.DRAFT:
        rules.transition(current, Status.SCHEDULED, iso(utcnow()))  # raises the 409 naming what is allowed
    estimate = _estimate(current)
    if estimate["to_send"] > rules.APPROVAL_ABOVE_RECIPIENTS and not current.approved_by:
        raise Conflict(f"The campaign reaches {estimate['to_send']} people, more than "
                       f"{rules.APPROVAL_ABOVE_RECIPIENTS}: an admin must approve it first "
                       f"(POST /campaigns/{current.id}/approve).", reason="approval_required",
                       recipients=estimate["to_send"])
    if current.channel == rules.Channel.SMS:
        limits = campaign_limits()
        month = utcnow().astimezone(sending.local_zone()).strftime("%Y-%m")
        spent, committed = repo.month_spend(f"SPEND#sms#{month}"), _committed_sms_cost(current.id)
        left = limits.sms_monthly_budget_idr - spent - committed
        if estimate["estimated_cost"] > left:
            raise Conflict(f"The estimated cost (Rp {estimate['estimated_cost']}) is more than what is left of this "
                           f"month's SMS budget (Rp {max(left, 0)}: Rp {spent} spent, Rp {committed} still to be "
                           "spent by the campaigns scheduled or sending).", reason="over_budget",
                           estimated_cost=estimate["estimated_cost"], budget_left=max(left, 0),
                           committed=committed)
    if current.send_at and parse_iso(current.send_at) < utcnow() - timedelta(days=1):
        raise Unprocessable([FieldError("send_at", "is more than a day in the past; change it first")])
    scheduled = rules.transition(current, Status.SCHEDULED, iso(utcnow()),
                                 estimated_recipients=estimate["to_send"])
    repo.save(scheduled, expected_version=current.version)
    try:
        sending.start(scheduled)
    except Exception:
        # No execution: back to a draft (at the version just written), so it can be scheduled again.
        from chalicelib.domain.errors import ServiceUnavailable

        repo.save(rules.transition(scheduled, Status.DRAFT, iso(utcnow())), expected_version=scheduled.version)
        raise ServiceUnavailable("The campaign could not be started; it is a draft again. Retry shortly.") from None
    return scheduled


def _committed_sms_cost(but: str) -> int:
    """What the other SMS campaigns scheduled, sending or paused are still expected to spend: their estimate at
    scheduling less what they have spent (one Query of the campaigns index, a GetItem of each one's counters).
    Two schedules in the same instant can both fit; the account's own SMS spend limit is the hard stop."""
    price = campaign_limits().sms_price_per_part_idr
    committed, cursor = 0, None
    while True:
        page, cursor = repo.list_page(100, cursor)
        for c in page:
            if c.id == but or c.channel != rules.Channel.SMS or c.status not in (
                    Status.SCHEDULED, Status.SENDING, Status.PAUSED):
                continue
            parts = rules.check_texts(c.channel, c.purpose, c.variants, c.max_parts, settings().branches,
                                      settings().link_base)
            counted, _ = repo.counts(c.id)
            committed += max((c.estimated_recipients or 0) * parts * price - counted.get("parts", 0) * price, 0)
        if cursor is None:
            return committed


def approve(access: Access, campaign_id: str, if_match: str | None) -> Campaign:
    current = get(access, campaign_id)
    if if_match is not None:
        require_if_match(if_match, current.version, "campaign")
    if current.status not in (Status.DRAFT, Status.SCHEDULED):
        raise Conflict(f"A {current.status} campaign needs no approval.", current=current.status)
    approved = _with(current, approved_by=access.principal.sub)
    repo.save(approved, expected_version=current.version)
    return approved


def pause(access: Access, campaign_id: str, if_match: str | None) -> Campaign:
    return _move(access, campaign_id, if_match, Status.PAUSED, paused_reason="by_staff")


def resume(access: Access, campaign_id: str, if_match: str | None) -> Campaign:
    resumed = _move(access, campaign_id, if_match, Status.SENDING, paused_reason=None)
    repo.forget_recent(campaign_id)
    sending.start(resumed)  # a new execution: it sends only rows still queued
    return resumed


def cancel(access: Access, campaign_id: str, if_match: str | None) -> Campaign:
    return _move(access, campaign_id, if_match, Status.CANCELLED, finished_at=iso(utcnow()))


def test_send(access: Access, campaign_id: str, addresses: list[str]) -> dict[str, Any]:
    """The campaign's texts (each variant, each language) to up to TEST_SEND_MAX staff phones or emails (each one a
    staff member's in the user pool, else 422), marked as a test, sent by the campaign sender (the API sends no
    message itself); nothing is recorded against any customer."""
    from chalicelib.domain.customers import normalize_email, normalize_phone
    from chalicelib.domain.errors import ValidationFailed

    campaign = get(access, campaign_id)
    clean, errors = [], []
    for n, raw in enumerate(addresses):
        try:
            clean.append(normalize_phone(raw, settings().default_phone_region) if campaign.channel == rules.Channel.SMS
                         else normalize_email(raw))
        except ValueError as exc:
            errors.append(FieldError(f"addresses[{n}]", str(exc)))
    if errors:
        raise ValidationFailed(errors, "An address is not valid for the campaign's channel.")
    from chalicelib import staff

    kind = "phone" if campaign.channel == rules.Channel.SMS else "email"
    strangers = [FieldError(f"addresses[{n}]", f"is not the {kind} of a staff member (the user directory)")
                 for n, address in enumerate(clean) if not staff.has_address(address, kind)]
    if strangers:  # a test-send skips consent and the cap: only to the staff's own phones and mailboxes
        raise Unprocessable(strangers, "Test messages go to staff members' own addresses only.")
    return sending.request_test_send(campaign, list(dict.fromkeys(clean)),
                                     access.principal.branch or settings().branches[0])


# --------------------------------------------------------------------------------------------- the report


def report(access: Access, campaign_id: str) -> dict[str, Any]:
    """The counters (a manager: their branch's only), and where orders exist the conversions of the sent and
    the holdout within ATTRIBUTION_DAYS_DEFAULT days of the start, with the lift."""
    campaign = get(access, campaign_id)
    counts, _ = repo.counts(campaign.id)
    prefix = f"b.{access.branch}." if access.branch is not None else ""
    mine = {k[len(prefix):]: v for k, v in counts.items() if k.startswith(prefix)} if prefix else \
        {k: v for k, v in counts.items() if not k.startswith(("b.", "v.", "t."))}
    summary = _summary(campaign, mine)
    out: dict[str, Any] = {"campaign_id": campaign.id, "status": campaign.status, "branch": access.branch,
                           **summary}
    out["by_variant"] = {v.id: _summary(campaign, _scoped(counts, f"v.{v.id}.")) for v in campaign.variants} \
        if access.branch is None else {}
    branches = sorted({k.split(".")[1] for k in counts if k.startswith("b.")})
    out["by_branch"] = {b: _summary(campaign, _scoped(counts, f"b.{b}.")) for b in branches
                        if access.branch is None or b == access.branch}
    out["conversions"] = _conversions(campaign, summary, access.branch, counts)
    out["sends_by_hour"] = [{"hour": k[2:] + ":00Z", "sent": v} for k, v in sorted(counts.items())
                            if k.startswith("t.")] if access.branch is None else []
    return out


def _scoped(counts: dict[str, int], prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: v for k, v in counts.items() if k.startswith(prefix)}


def _summary(campaign: Campaign, c: dict[str, int]) -> dict[str, Any]:
    excluded = {r.value: c.get(f"excluded.{r.value}", 0) for r in rules.NOT_REACHABLE}
    failed = {k.split(".", 1)[1]: v for k, v in c.items() if k.startswith("failed.")}
    undelivered_by_code = {k.split(".", 1)[1]: v for k, v in c.items() if k.startswith("undelivered.")}
    accepted, delivered, undelivered = c.get("accepted", 0), c.get("delivered", 0), c.get("undelivered", 0)
    pending = accepted - delivered - undelivered
    unknown = min(rules.unknown_receipts(c, utcnow()), pending)
    parts = c.get("parts", 0)
    return {
        "matched": c.get("matched", 0), "eligible": c.get("eligible", 0), "excluded": excluded,
        "control": c.get("control", 0), "holdout": c.get("holdout", 0), "to_send": c.get("to_send", 0),
        "sent": c.get("sent", 0), "accepted": accepted, "delivered": delivered, "undelivered": undelivered,
        "undelivered_by_code": undelivered_by_code,
        "failed": c.get("failed", 0), "failed_by_code": failed, "capped": c.get("capped", 0),
        "withdrawn": c.get("withdrawn", 0),
        "queued": c.get("to_send", 0) - c.get("sent", 0) - c.get("capped", 0) - c.get("withdrawn", 0),
        "awaiting_receipt": pending - unknown, "unknown": unknown,
        "opted_out": c.get("opted_out", 0), "parts": parts,
        "cost": parts * campaign_limits().sms_price_per_part_idr if campaign.channel == rules.Channel.SMS else 0,
    }


def _conversions(campaign: Campaign, summary: dict[str, Any], branch: str | None,
                 counts: dict[str, int]) -> dict[str, Any] | None:
    """Orders (not cancelled) placed by the sent arm and the holdout from the start until ATTRIBUTION_DAYS_DEFAULT
    days after the end (or now). One Query of the orders of that time, one BatchGetItem per 100 of their buyers."""
    from chalicelib.persistence import orders

    if campaign.started_at is None:
        return None
    start = parse_iso(campaign.started_at)
    end = min(utcnow(), parse_iso(campaign.finished_at or iso(utcnow())) + timedelta(
        days=rules.ATTRIBUTION_DAYS_DEFAULT))
    revenue: Counter[str] = Counter()
    buyers: set[str] = set()
    cursor: RawKey | None = None
    while True:
        found, cursor = orders.list_page(branch=branch, customer_id=None, status=None, placed_from=iso(start),
                                         placed_to=iso(end), limit=500, start_key=cursor)
        for o in found:
            if o.status != "cancelled" and not o.customer_id.startswith(orders.DETACHED_PREFIX):
                buyers.add(o.customer_id)
                revenue[o.customer_id] += int(o.net_total)
        if cursor is None:
            break
    rows = repo.recipients_of(campaign.id, buyers)
    conv: Counter[str] = Counter()
    money: Counter[str] = Counter()
    by_variant: Counter[str] = Counter()
    for customer_id, r in rows.items():
        arm = "treated" if r.sent else r.arm
        if r.arm == "send" and arm != "treated":
            continue  # capped or withdrawn: neither arm
        conv[arm] += 1
        money[arm] += revenue[customer_id]
        if arm == "treated" and r.variant:
            by_variant[r.variant] += 1
    n_t, n_c = summary["sent"], summary["holdout"]
    result = rules.lift(conv["treated"], n_t, conv["holdout"], n_c)
    incremental = None
    if n_t and n_c:
        incremental = round((money["treated"] / n_t - money["holdout"] / n_c) * n_t)
    extra_conversions = (result["absolute_lift"] or 0) * n_t if result["absolute_lift"] is not None else None
    result.update(window_days=rules.ATTRIBUTION_DAYS_DEFAULT, revenue_treated=money["treated"],
                  revenue_holdout=money["holdout"], incremental_revenue=incremental,
                  cost_per_incremental_conversion=round(summary["cost"] / extra_conversions)
                  if extra_conversions and extra_conversions > 0 else None)
    if branch is None and len(campaign.variants) > 1:
        result["variants"] = rules.compare_variants([(v.id, counts.get(f"v.{v.id}.sent", 0), by_variant[v.id])
                                                     for v in campaign.variants])
    return result


# --------------------------------------------------------------------------------------------- opt-out links


def link_owner(token: str) -> tuple[sending.LinkOwner, Campaign]:
    """The link's customer and campaign; NotFound for a forged or altered token, or one whose campaign is gone."""
    owner = sending.read_token(token)
    campaign_id = repo.id_of_number(owner.campaign_number) if owner else None
    campaign = repo.get(campaign_id) if campaign_id else None
    if owner is None or campaign is None:
        raise NotFound("No such link.")
    return owner, campaign


OPTED_OUT_WITHIN_DAYS = 7  # the report's opt-outs: those within this many days of the message


def opt_out(token: str) -> str:
    """Withdraw the link's channel's marketing consent (source `unsubscribe_link:<campaign id>`), once: a second
    press changes nothing. Returns the channel. The campaign's counter of opt-outs counts the first."""
    from chalicelib.workflows.consent import withdraw_unattended

    owner, campaign = link_owner(token)
    topic = f"{owner.channel}_marketing"
    recorded = withdraw_unattended(owner.customer_id, topic,
                                   ConsentGiven(value=False, source=f"unsubscribe_link:{campaign.id}"))
    if recorded:
        row = repo.get_recipient(campaign.id, owner.customer_id)
        if row is not None and row.opted_out_at is None:
            sent_at = parse_iso(row.sent_at) if row.sent_at else None
            within = sent_at is not None and utcnow() - sent_at <= timedelta(days=OPTED_OUT_WITHIN_DAYS)
            counts = {"opted_out": 1, f"b.{row.branch_id}.opted_out": 1} if within else {}
            if within and row.variant:
                counts[f"v.{row.variant}.opted_out"] = 1
            repo.mark_opted_out(row, iso(utcnow()), counts)
    return owner.channel
