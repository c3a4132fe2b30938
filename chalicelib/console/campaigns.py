"""The console's campaign pages: the list, the builder (a draft's form whose preview refreshes as it changes, a
live GSM-7 and length check in static/console.js), test-send and the lifecycle's buttons, and the report.

A form goes through the API's own request models (chalicelib/api/campaigns_models.py), so the console and the
API refuse the same things with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.console.frame import Ctx, Redirect, may, validated
from chalicelib.domain import campaigns as rules
from chalicelib.domain.errors import DomainError, NotFound, ServiceUnavailable

LIST_LIMIT = 50


def _may(ctx: Ctx, operation: str) -> bool:
    return may(ctx, operation) is not None


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.replace(";", ",").split(",") if w.strip()]


def _fact_choices() -> dict[str, list[str]]:
    """The export facts' list conditions and their values (checkboxes named <condition>_<value>)."""
    from chalicelib.domain.products import Category

    categories = [c.value for c in Category]
    return {"rfm_segment_in": list(rules.RFM_SEGMENTS), "churn_band_in": list(rules.CHURN_BANDS),
            "bought_category_in": categories, "not_bought_category_in": categories}


def _audience_of(form: Mapping[str, str]) -> dict[str, Any]:
    """The builder's audience fields as the API's audience object (an empty field is no condition)."""
    from chalicelib.config import settings
    from chalicelib.domain.customers import LifecycleStage

    audience: dict[str, Any] = {}
    branches = [b for b in settings().branches if form.get(f"branch_in_{b}")]
    stages = [s.value for s in LifecycleStage if form.get(f"stage_in_{s.value}")]
    if branches:
        audience["branch_in"] = branches
    if stages:
        audience["stage_in"] = stages
    for name in ("tags_any", "tags_all", "city_in"):
        if _words(form.get(name, "")):
            audience[name] = _words(form[name])
    for name, values in _fact_choices().items():
        chosen = [v for v in values if form.get(f"{name}_{v}")]
        if chosen:
            audience[name] = chosen
    for name in ("language", "customer_since_after", "customer_since_before", "last_order_before",
                 "last_interaction_before", "last_interaction_after"):
        if form.get(name, "").strip():
            audience[name] = form[name].strip()
    if form.get("birthday_month", "").strip().isdigit():
        audience["birthday_month"] = int(form["birthday_month"])
    return audience


def _body_of(form: Mapping[str, str], *, draft: bool) -> dict[str, Any]:
    from chalicelib.config import settings

    body: dict[str, Any] = {"name": form.get("name", "").strip(), "audience": _audience_of(form),
                            "messages": {"id": form.get("msg_id", ""), "en": form.get("msg_en", "")}}
    if not draft:
        body["channel"] = form.get("channel") or "sms"
    if form.get("purpose"):
        body["purpose"] = form["purpose"]
    if (body.get("channel") or form.get("channel")) == "email" or form.get("subject_id") or form.get("subject_en"):
        body["subjects"] = {"id": form.get("subject_id", ""), "en": form.get("subject_en", "")}
    if form.get("holdout_pct", "").strip().isdigit():
        body["holdout_pct"] = int(form["holdout_pct"])
    if form.get("send_at", "").strip():
        try:
            local = datetime.fromisoformat(form["send_at"].strip()).replace(tzinfo=ZoneInfo(settings().timezone))
        except ValueError:
            from chalicelib.domain.errors import FieldError, ValidationFailed

            raise ValidationFailed([FieldError("send_at", "must be a date and time")]) from None
        body["send_at"] = local.isoformat()
    elif draft:
        body["send_at"] = None
    if form.get("sender_id", "").strip():
        body["sender_id"] = form["sender_id"].strip()
    return body


def _builder(ctx: Ctx) -> dict[str, Any]:
    """What the builder's form offers, and what the text check in the browser needs."""
    from chalicelib.config import settings
    from chalicelib.domain.customers import LifecycleStage

    s = settings()
    longest = max((rules.branch_name_of(b) for b in s.branches), key=len, default="")
    suffix = {lang: len("\n" + rules.OPT_OUT_LINE[lang].format(link=rules.opt_out_link(s.link_base, "x" *
                                                                                         rules.TOKEN_CHARS)))
              for lang in ("id", "en")}
    choices = _fact_choices()
    return {"branches": s.branches, "stages": [st.value for st in LifecycleStage], "segments": choices["rfm_segment_in"],
            "bands": choices["churn_band_in"], "categories": choices["bought_category_in"], "purposes": [
        p.value for p in rules.Purpose if p != rules.Purpose.INFORMATIONAL or _may(ctx, "campaigns.approve")],
        "worst_name": "W" * rules.FIRST_NAME_MAX_CHARS, "worst_branch": longest, "suffix": suffix,
        "part": rules.SMS_PART_SEPTETS}


def campaigns_page(ctx: Ctx) -> Mapping[str, Any]:
    from chalicelib.services import campaigns

    items, _ = campaigns.list_page(ctx.access, LIST_LIMIT, None)
    return {"campaigns": items, "may_create": _may(ctx, "campaigns.create")}


def new_campaign(ctx: Ctx) -> Mapping[str, Any]:
    """An empty builder; `?bought=<category>&not_bought=<category>` (the dashboard's products bought together)
    starts a cross-sell to those who bought one and not yet the other."""
    builder = _builder(ctx)
    a = {field: [v for v in (ctx.query.get(name) or "").split(",") if v in builder["categories"]]
         for field, name in (("bought_category_in", "bought"), ("not_bought_category_in", "not_bought"))}
    purpose = "cross_sell" if any(a.values()) else None
    return {"c": None, "a": a, "purpose": purpose, "preview": None, "preview_error": None, "send_at_local": "",
            **builder}


def create_campaign(ctx: Ctx) -> Mapping[str, Any]:
    from chalicelib.api.campaigns_models import CampaignCreate
    from chalicelib.services import campaigns

    made = campaigns.create(ctx.access, validated(CampaignCreate, _body_of(ctx.form, draft=False)).to_domain())
    raise Redirect(f"/console/campaigns/{made.id}")


def _page(ctx: Ctx, campaign_id: str) -> dict[str, Any]:
    from chalicelib.services import campaigns

    c = campaigns.get(ctx.access, campaign_id)
    preview: dict[str, Any] | None = None
    preview_error = None
    if c.status == rules.Status.DRAFT:
        try:
            try:  # a large audience's background preview of this version, running or done, is not asked again
                status, answer = campaigns.stored_preview(ctx.access, c.id)
            except (NotFound, ServiceUnavailable):
                status, answer = campaigns.preview(ctx.access, c.id)
            if status == 200:
                preview = answer
            else:
                preview_error = ctx.t("campaign.preview_running")
        except DomainError as exc:
            preview_error = exc.detail
    a = c.audience.conditions
    return {"c": c, "a": a, "preview": preview, "preview_error": preview_error, "next": rules.NEXT[c.status],
            "may_move": _may(ctx, "campaigns.schedule"), "may_approve": _may(ctx, "campaigns.approve"),
            "may_test": _may(ctx, "campaigns.test_send"), "may_report": _may(ctx, "campaigns.report"),
            "needs_approval": bool(preview and preview["to_send"] > rules.APPROVAL_ABOVE_RECIPIENTS
                                   and not c.approved_by),
            "send_at_local": datetime.fromisoformat(c.send_at.replace("Z", "+00:00")).astimezone(
                ZoneInfo(_zone_name())).strftime("%Y-%m-%dT%H:%M") if c.send_at else "",
            **_builder(ctx)}


def _zone_name() -> str:
    from chalicelib.config import settings

    return settings().timezone


def campaign(ctx: Ctx, campaign_id: str) -> Mapping[str, Any]:
    return _page(ctx, campaign_id)


def save_campaign(ctx: Ctx, campaign_id: str) -> Mapping[str, Any]:
    """The builder's form as a PATCH of the draft at the ETag the page was read at; the page comes back with a
    fresh preview (the form posts on every change)."""
    from chalicelib.api.campaigns_models import CampaignPatch
    from chalicelib.services import campaigns

    changes = validated(CampaignPatch, _body_of(ctx.form, draft=True)).to_domain()
    campaigns.update(ctx.access, campaign_id, ctx.form.get("etag"), changes)
    return _page(ctx, campaign_id)


def move_campaign(ctx: Ctx, campaign_id: str) -> Mapping[str, Any]:
    from chalicelib.services import campaigns

    action = ctx.form.get("action", "")
    if action not in ("schedule", "pause", "resume", "cancel"):
        from chalicelib.domain.errors import BadRequest

        raise BadRequest("Choose schedule, pause, resume or cancel.")
    getattr(campaigns, action)(ctx.access, campaign_id, ctx.form.get("etag"))
    raise Redirect(f"/console/campaigns/{campaign_id}")


def approve_campaign(ctx: Ctx, campaign_id: str) -> Mapping[str, Any]:
    from chalicelib.services import campaigns

    campaigns.approve(ctx.access, campaign_id, ctx.form.get("etag"))
    raise Redirect(f"/console/campaigns/{campaign_id}")


def test_send(ctx: Ctx, campaign_id: str) -> Mapping[str, Any]:
    from chalicelib.api.campaigns_models import TestSend
    from chalicelib.services import campaigns

    body = validated(TestSend, {"addresses": _words(ctx.form.get("addresses", ""))})
    done = campaigns.test_send(ctx.access, campaign_id, body.addresses)
    return {**_page(ctx, campaign_id), "tested": done["sent"]}


def report(ctx: Ctx, campaign_id: str) -> Mapping[str, Any]:
    from chalicelib.console import charts
    from chalicelib.services import campaigns

    c = campaigns.get(ctx.access, campaign_id) if _may(ctx, "campaigns.get") else None
    r = campaigns.report(ctx.access, campaign_id)
    hours = r["sends_by_hour"]
    chart = charts.columns([h["hour"][:13].replace("T", " ") + "h" for h in hours],
                           [("sent", [{"n": h["sent"]} for h in hours])], ctx.t("campaign.sends_over_time")) \
        if hours else None
    return {"c": c, "r": r, "chart": chart, "refresh": r["status"] in ("scheduled", "sending")}
