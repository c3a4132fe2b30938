"""Routes of campaigns: write, preview, schedule, pause, resume, cancel, approve, test-send, report (models:
chalicelib/api/campaigns_models.py). The opt-out link's public page is the console's (chalicelib/console)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api import cursors
from chalicelib.api.http import Call, Reply, RouteSpec, View

if TYPE_CHECKING:
    from chalicelib.api.campaigns_models import CampaignCreate, CampaignListQuery, CampaignPatch, TestSend
    from chalicelib.domain.campaigns import Campaign


def _reply(c: Campaign, status: int = 200, **headers: str) -> Reply:
    return Reply(c.to_dict(), status, {"ETag": c.etag, **headers})


def create_campaign(call: Call[CampaignCreate, None]) -> Reply:
    from chalicelib.services import campaigns

    c = campaigns.create(call.caller, call.body.to_domain())
    return _reply(c, 201, Location=f"/campaigns/{c.id}")


def list_campaigns(call: Call[None, CampaignListQuery]) -> Reply:
    from chalicelib.services import campaigns

    scope = "|".join(map(str, [call.caller.operation, call.caller.branch]))
    items, next_key = campaigns.list_page(call.caller, call.query.limit, cursors.decode(call.query.cursor, scope))
    return Reply({"items": [c.to_dict() for c in items], "next_cursor": cursors.encode(next_key, scope)})


def get_campaign(call: Call[None, None], campaign_id: str) -> Reply:
    from chalicelib.services import campaigns

    return _reply(campaigns.get(call.caller, campaign_id))


def patch_campaign(call: Call[CampaignPatch, None], campaign_id: str) -> Reply:
    from chalicelib.services import campaigns

    return _reply(campaigns.update(call.caller, campaign_id, call.header("If-Match"), call.body.to_domain()))


def _preview_reply(campaign_id: str, status: int, body: dict[str, object]) -> Reply:
    if status == 202:  # computing in the background: ask GET .../preview
        return Reply(body, 202, {"Location": f"/campaigns/{campaign_id}/preview", "Retry-After": "5"})
    return Reply(body)


def preview_campaign(call: Call[None, None], campaign_id: str) -> Reply:
    from chalicelib.services import campaigns

    return _preview_reply(campaign_id, *campaigns.preview(call.caller, campaign_id))


def get_preview(call: Call[None, None], campaign_id: str) -> Reply:
    from chalicelib.services import campaigns

    return _preview_reply(campaign_id, *campaigns.stored_preview(call.caller, campaign_id))


def _mover(name: str) -> View:
    def move(call: Call[None, None], campaign_id: str) -> Reply:
        from chalicelib.services import campaigns

        return _reply(getattr(campaigns, name)(call.caller, campaign_id, call.header("If-Match")))

    move.__name__ = f"{name}_campaign"
    move.__qualname__ = move.__name__
    return move


def test_send_campaign(call: Call[TestSend, None], campaign_id: str) -> Reply:
    from chalicelib.services import campaigns

    return Reply(campaigns.test_send(call.caller, campaign_id, call.body.addresses))


def campaign_report(call: Call[None, None], campaign_id: str) -> Reply:
    from chalicelib.services import campaigns

    return Reply(campaigns.report(call.caller, campaign_id))


ONE = "/campaigns/{campaign_id}"
_MOVES = (400, 401, 403, 404, 409, 412)
ROUTES: list[tuple[RouteSpec, View]] = [
    (RouteSpec("POST", "/campaigns", "campaigns.create", "Write a campaign (a draft): audience, texts, variants, "
               "holdout", 201, response="CampaignOut", errors=(400, 401, 403, 413, 415, 422),
               headers=("ETag", "Location")), create_campaign),
    (RouteSpec("GET", "/campaigns", "campaigns.list", "Campaigns, newest first", response="CampaignPage",
               errors=(400, 401, 403)), list_campaigns),
    (RouteSpec("GET", ONE, "campaigns.get", "Read a campaign", response="CampaignOut", errors=(400, 401, 403, 404),
               headers=("ETag",)), get_campaign),
    (RouteSpec("PATCH", ONE, "campaigns.update", "Change a draft; If-Match required", response="CampaignOut",
               errors=(400, 401, 403, 404, 409, 412, 413, 415, 422, 428), headers=("ETag",)), patch_campaign),
    (RouteSpec("POST", f"{ONE}/preview", "campaigns.preview", "Who it would reach now, who not and why, what it "
               "would cost and take; 20 masked sample recipients. A large audience: 202, computed in the "
               "background (GET it)", response="CampaignPreview", errors=(400, 401, 403, 404, 422),
               accepted="PreviewRunning"), preview_campaign),
    (RouteSpec("GET", f"{ONE}/preview", "campaigns.preview", "The background preview of the campaign's current "
               "version: 200 once done, 202 while running", response="CampaignPreview",
               errors=(400, 401, 403, 404, 503), accepted="PreviewRunning"), get_preview),
    (RouteSpec("POST", f"{ONE}/schedule", "campaigns.schedule", "draft -> scheduled: sends from send_at (approval "
               "above 5,000 recipients; the SMS budget)", response="CampaignOut", errors=_MOVES + (422, 503),
               headers=("ETag",)), _mover("schedule")),
    (RouteSpec("POST", f"{ONE}/pause", "campaigns.schedule", "sending -> paused", response="CampaignOut",
               errors=_MOVES, headers=("ETag",)), _mover("pause")),
    (RouteSpec("POST", f"{ONE}/resume", "campaigns.schedule", "paused -> sending: sends only what was not sent",
               response="CampaignOut", errors=_MOVES, headers=("ETag",)), _mover("resume")),
    (RouteSpec("POST", f"{ONE}/cancel", "campaigns.schedule", "Stop a campaign for good", response="CampaignOut",
               errors=_MOVES, headers=("ETag",)), _mover("cancel")),
    (RouteSpec("POST", f"{ONE}/approve", "campaigns.approve", "An admin approves a campaign to more than 5,000 "
               "people", response="CampaignOut", errors=_MOVES, headers=("ETag",)), _mover("approve")),
    (RouteSpec("POST", f"{ONE}/test-send", "campaigns.test_send", "Send the texts to up to 5 staff phones or "
               "emails, marked [TEST]", response="TestSendOut", errors=(400, 401, 403, 404, 413, 415)),
     test_send_campaign),
    (RouteSpec("GET", f"{ONE}/report", "campaigns.report", "Reach, delivery, opt-outs, cost, and the lift over "
               "the holdout; a manager sees their branch", response="CampaignReport", errors=(400, 401, 403, 404)),
     campaign_report),
]
