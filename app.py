"""Relasi CRM: Chalice wiring only. Logic lives in chalicelib/.

Nothing heavy is imported here: handlers import what they need on first use,
so a cold start pays only for Chalice itself.
"""

import os

from chalice import AuthResponse, Chalice, Cron, Rate

from chalicelib import console
from chalicelib.api import (
    analytics,
    appointments,
    campaigns,
    complaints,
    consent,
    customers,
    http,
    interactions,
    meta,
    orders,
    products,
    reminders,
    shipments,
    vehicles,
    work_orders,
)
from chalicelib.api.middleware import http_middleware

# configure_logs=False: Chalice would add a second, plain-text handler to the
# "relasi" logger that Powertools already writes structured JSON through.
app = Chalice(app_name="relasi", configure_logs=False)
app.register_middleware(http_middleware, "http")


@app.authorizer(ttl_seconds=300)
def cognito_id_token(auth_request):  # type: ignore[no-untyped-def]
    """Verifies the Cognito ID token; the claims reach the routes as context."""
    from chalicelib.api.auth import principal_context, verify

    principal = verify(auth_request.token)
    return AuthResponse(routes=["*"], principal_id=principal.sub, context=principal_context(principal))


http.register(app, cognito_id_token, customers.ROUTES + interactions.ROUTES + consent.ROUTES + complaints.ROUTES
              + reminders.ROUTES + analytics.ROUTES + products.ROUTES + orders.ROUTES + shipments.ROUTES
              + campaigns.ROUTES + vehicles.ROUTES + appointments.ROUTES
              + work_orders.ROUTES + meta.ROUTES)
console.register(app)  # the staff console (HTML): its pages check the token themselves, see chalicelib/console

# The real stream ARN comes from infra/template.yaml (merged over what Chalice
# packages); the local stack's pump calls this handler directly.
TABLE_STREAM_ARN = os.environ.get(
    "TABLE_STREAM_ARN", "arn:aws:dynamodb:ap-southeast-3:000000000000:table/relasi/stream/set-by-infra-template"
)


@app.on_dynamodb_record(stream_arn=TABLE_STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON",
                        name="table_changes")
def on_table_change(event):  # type: ignore[no-untyped-def]
    """Complaints start their escalation and tell the customer; see chalicelib/workflows/stream.py."""
    from chalicelib.workflows.stream import handle

    return handle(event.to_dict(), event.context)


# `make package` names the stage's topic in INBOUND_SMS_TOPIC; the local stack's (STAGE=dev) follows the same rule.
@app.on_sns_message(topic=os.environ.get("INBOUND_SMS_TOPIC") or f"relasi-{os.environ.get('STAGE', 'dev')}-inbound-sms",
                    name="inbound_sms")
def on_inbound_sms(event):  # type: ignore[no-untyped-def]
    """STOP/START replies keep the opt-out list; see chalicelib/workflows/consent.py."""
    from chalicelib.workflows.consent import handle

    handle(event.message)


# What the sending services report after they accepted a message (SMS receipts, SES deliveries, bounces and
# complaints); named like the inbound-SMS topic (MESSAGE_EVENTS_TOPIC from `make package`, else the stage's rule).
@app.on_sns_message(topic=os.environ.get("MESSAGE_EVENTS_TOPIC")
                    or f"relasi-{os.environ.get('STAGE', 'dev')}-message-events", name="message_events")
def on_message_event(event):  # type: ignore[no-untyped-def]
    """Receipts update campaign recipients; hard bounces and complaints withdraw email marketing consent; see
    chalicelib/workflows/message_events.py."""
    from chalicelib.workflows.message_events import handle

    handle(event.message)


def _reminders_cron() -> Cron:
    from chalicelib.config import reminders_cron_utc

    minute, hour = reminders_cron_utc()  # REMINDERS_LOCAL_HOUR (08) in TIMEZONE, as UTC
    return Cron(minute, hour, "*", "*", "?", "*")


@app.schedule(_reminders_cron(), name="daily-reminders")
def daily_reminders(event):  # type: ignore[no-untyped-def]
    """Birthday greetings and due-date reminders of the day; see chalicelib/workflows/reminders.py."""
    from chalicelib.workflows.reminders import on_schedule

    return on_schedule(event.time)


def _export_cron() -> Cron:
    from chalicelib.config import export_cron_utc

    minute, hour = export_cron_utc()  # EXPORT_LOCAL_HOUR (02) in TIMEZONE, as UTC
    return Cron(minute, hour, "*", "*", "?", "*")


@app.schedule(_export_cron(), name="analytics-export")
def analytics_export(event):  # type: ignore[no-untyped-def]
    """The day's analytics export to S3 (yesterday's, or `detail.date` when POST /analytics/exports invoked it);
    see chalicelib/workflows/analytics.py."""
    from chalicelib.workflows.analytics import on_event

    return on_event(event.to_dict())


def _counters_reconcile_cron() -> Cron:
    from chalicelib.config import counters_reconcile_cron_utc

    minute, hour = counters_reconcile_cron_utc()  # 04:00 in TIMEZONE, after the export, as UTC
    return Cron(minute, hour, "*", "*", "?", "*")


@app.schedule(_counters_reconcile_cron(), name="counters-reconcile")
def counters_reconcile(event):  # type: ignore[no-untyped-def]
    """Recounts the table and repairs the live counters' confirmed drift; see chalicelib/workflows/aggregates.py."""
    from chalicelib.workflows.aggregates import on_schedule

    return on_schedule(event.time)


def _late_deliveries_cron() -> Cron:
    from chalicelib.config import late_deliveries_cron_utc

    minute, hour = late_deliveries_cron_utc()  # 09:00 in TIMEZONE, as UTC
    return Cron(minute, hour, "*", "*", "?", "*")


@app.schedule(_late_deliveries_cron(), name="late-deliveries")
def late_deliveries(event):  # type: ignore[no-untyped-def]
    """Orders not delivered a day after their promised date open one complaint each; see
    chalicelib/workflows/orders.py."""
    from chalicelib.workflows.orders import on_schedule

    return on_schedule(event.time)


@app.lambda_function(name="stream-redrive")
def stream_redrive(event, context):  # type: ignore[no-untyped-def]
    """Operator command: re-process the stream records waiting in the dead-letter queue
    (`aws lambda invoke --function-name relasi-<stage>-stream-redrive`); see chalicelib/workflows/stream.py."""
    from chalicelib.workflows.stream import redrive

    return redrive(event, context)


@app.lambda_function(name="campaign-sender")
def campaign_sender(event, context):  # type: ignore[no-untyped-def]
    """One step of a campaign's sending, called by its state machine; see chalicelib/workflows/campaigns.py."""
    from chalicelib.workflows.campaigns import on_invoke

    return on_invoke(event)


@app.schedule(Rate(1, unit=Rate.HOURS), name="erasure-sweeper")
def erasure_sweeper(event):  # type: ignore[no-untyped-def]
    """Finishes erasures cut short and erases what an erased customer left; see chalicelib/workflows/erasure.py."""
    from chalicelib.workflows.erasure import on_schedule

    return on_schedule(event.time)
