"""Satisfaction surveys (chalicelib/domain/surveys.py): asking, the link, the answer, and the follow-up.

The stream consumer asks (`ask`) when a complaint becomes resolved, a work order completed or an order delivered
(chalicelib/workflows/stream.py, service.py, orders.py). Asking is exactly once per subject whatever redelivers
the record: the survey is created once (its key is the subject's; the cap item moves in the same transaction),
and its message is claimed once under `survey#<subject>#<id>` (chalicelib/workflows/messages.py: the customer's
channel and language, the quiet hours, the transactional rules). Who is asked:

- a customer the CRM can reach on their channel (an address, not on the STOP list);
- about an order or a work order: not one who withdrew marketing consent for that channel (a survey is not a
  marketing message, but a customer who said "no more messages" is not asked for a favour); about their own
  complaint: whatever their marketing consent (docs/security.md);
- at most one survey per SURVEY_CAP_DAYS, whatever it was about.

The answer (`answer`, from the public page `POST /s/{token}`) is one conditional write. The stream consumer then
opens the follow-up complaint of a low answer (`survey_changed`), once: its id is made from the survey's subject.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.config import settings
from chalicelib.domain import surveys as rules
from chalicelib.domain.clock import iso, utcnow
from chalicelib.domain.consent import Purpose
from chalicelib.domain.customers import Customer
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.surveys import Asked, Subject, Survey
from chalicelib.observability import count, logger

_SURVEY = b"survey"  # what the links' signature is for (chalicelib/links.py)
_BODY_BYTES = 33  # customer (16), subject (1), subject id (16)
TOKEN_CHARS = 55
CREATE_ATTEMPTS = 5  # reads of the cap when other surveys of the customer keep moving it


def token(customer_id: str, subject: str, subject_id: str) -> str:
    """55 characters: the customer's ULID, the subject's kind and ULID, 8 bytes of signature (chalicelib/links.py)."""
    from ulid import ULID

    from chalicelib import links

    body = (ULID.from_str(customer_id).bytes + bytes([rules.SUBJECT_BYTE[Subject(subject)]])
            + ULID.from_str(subject_id).bytes)
    return links.sign(_SURVEY, body)


def read_token(text: str) -> tuple[str, str, str] | None:
    """(customer id, subject, subject id) of a survey link; None for anything altered or forged."""
    from ulid import ULID

    from chalicelib import links

    body = links.verified(_SURVEY, text, _BODY_BYTES)
    if body is None:
        return None
    subject = {v: k for k, v in rules.SUBJECT_BYTE.items()}.get(body[16])
    if subject is None:
        return None
    return str(ULID.from_bytes(body[:16])), subject.value, str(ULID.from_bytes(body[17:]))


def link(s: Survey) -> str:
    return f"{settings().link_base.rstrip('/')}/s/{token(s.customer_id, s.subject, s.subject_id)}"


def _zone() -> ZoneInfo:
    return ZoneInfo(settings().timezone)


def ask(customer: Customer, asked: Asked) -> str:
    """Survey the customer about `asked`, once. Returns what became of it: the message's outcome ("sent",
    "deferred" to the end of the quiet hours, "duplicate": asked before), or why nobody was asked ("unreachable",
    "capped", "answered", "gone": the customer was erased meanwhile)."""
    from chalicelib.domain.consent import route
    from chalicelib.domain.messages import render
    from chalicelib.persistence import consent
    from chalicelib.workflows.messages import notify

    purpose = Purpose.TRANSACTIONAL if asked.subject is Subject.COMPLAINT else Purpose.SURVEY
    chosen = route(customer, purpose, sms_opted_out=consent.sms_opted_out(customer.phone))
    if chosen.channel is None:
        count("SurveysNotAsked")
        return "unreachable"
    survey = _created(customer.id, customer.language, asked, utcnow())
    if isinstance(survey, str):
        return survey
    if survey.status != "sent":
        return "answered"
    message = render(f"survey_{survey.subject}", survey.language, ref=survey.subject_ref, link=link(survey))
    outcome = notify(customer, message, key=f"survey#{survey.key}", purpose=purpose, kind="survey",
                     ref=survey.subject_id, waking_hours=True, chosen=chosen)
    if outcome in ("sent", "deferred"):
        count("SurveysSent")
    return outcome


def _created(customer_id: str, language: str, asked: Asked, now: datetime) -> Survey | str:
    """The subject's survey: found, or created now within the cap; else "capped" or "gone"."""
    from chalicelib.persistence import surveys as repo

    quarter = rules.quarter(now.astimezone(_zone()).date())
    for _ in range(CREATE_ATTEMPTS):
        found = repo.get(customer_id, asked.subject.value, asked.subject_id)
        if found is not None:
            return found
        cap = repo.cap_of(customer_id)
        if not rules.cap_allows(cap.last_sent_at, now, settings().survey_cap_days):
            count("SurveysCapped")
            return "capped"
        asks_nps = cap.nps_quarter != quarter
        survey = rules.new_survey(asked, customer_id=customer_id, language=language, asks_nps=asks_nps, now=now)
        outcome = repo.create(survey, cap, quarter if asks_nps else cap.nps_quarter)
        if outcome == "created":
            return survey
        if outcome == "gone":
            return "gone"
    raise Conflict("The customer's surveys kept changing; the record is retried.")


def survey_of(text: str) -> Survey:
    """The survey a link names; NotFound for a forged or altered link, or a survey that is gone (erased)."""
    from chalicelib.persistence import surveys as repo

    owner = read_token(text)
    found = repo.get(*owner) if owner is not None else None
    if found is None:
        raise NotFound("No such survey.")
    return found


ANSWER_ATTEMPTS = 3  # transactions of one answer when another keeps writing the survey or the profile


def answer(text: str, form: dict[str, str]) -> rules.Answer:
    """Take the answer a link's page posts, once: one transaction, no read before it. Raises NotFound (forged,
    altered, erased or being erased), Conflict (answered already), rules.Expired, ValidationFailed (a score
    missing or out of range), ServiceUnavailable (other writes kept getting in the way: nothing was kept). An NPS
    score the survey did not ask is left out."""
    from chalicelib.domain.errors import ServiceUnavailable
    from chalicelib.persistence import customers
    from chalicelib.persistence import surveys as repo

    owner = read_token(text)
    if owner is None:
        raise NotFound("No such survey.")
    given = rules.read_answer(form, asks_nps=True)
    now = utcnow()
    for _ in range(ANSWER_ATTEMPTS):
        if repo.save_answer(*owner, given, iso(now)):
            count("SurveysAnswered")
            logger().info("survey answered", extra={"subject": owner[1], "csat": given.csat})
            return given
        survey = repo.get(*owner)  # refused: say why
        if survey is None or customers.branch_of(owner[0]) is None:  # erased, or being erased
            raise NotFound("No such survey.")
        rules.check_open(survey, now)  # answered already, or expired: raises
        if given.nps is not None and not survey.asks_nps:
            given = replace(given, nps=None)  # a score for a question it did not ask: left out
        # else another transaction held the survey or the profile (a double tap): try again
    raise ServiceUnavailable("The survey is busy; send the answer again.")


def survey_changed(old: Survey | None, new: Survey | None) -> None:
    """A low answer opens one follow-up complaint, in the customer's branch, which starts the escalation. Only an
    answer given (sent -> answered): a survey loaded already answered (demo data, an import) opens nothing."""
    if old is None or new is None or old.status == "answered" or new.status != "answered" or not new.low:
        return
    from chalicelib.domain.errors import StaleRead
    from chalicelib.persistence import complaints, customers

    branch = customers.branch_of(new.customer_id)
    if branch is None:
        return  # erased meanwhile
    case = rules.follow_up(new, branch, utcnow())
    try:
        complaints.create(case)
    except StaleRead:  # opened before (a redelivered record), or the customer moved or went meanwhile
        if complaints.get(case.id, consistent=True) is not None:
            return
        raise
    count("SurveyFollowUpsOpened")
    logger().info("survey follow-up opened", extra={"complaint_id": case.id, "subject": new.subject})


def asked_about(kind: str, entity: Any) -> Asked:
    """What a survey about a resolved complaint, a completed work order or a delivered order says it is about, and
    whose work it measures (a staff id, as every record's `by`): who resolved the complaint, the work order's
    service advisor (who opened it), the order's salesperson (who placed it)."""
    from chalicelib.domain.messages import reference

    if kind == Subject.COMPLAINT:
        return Asked(Subject.COMPLAINT, entity.id, reference(entity.id), entity.resolved_branch or entity.branch_id,
                     entity.department, _staff(entity.resolved_by))
    if kind == Subject.WORK_ORDER:
        return Asked(Subject.WORK_ORDER, entity.id, reference(entity.id), entity.branch_id, "service",
                     _staff(entity.created_by))
    return Asked(Subject.ORDER, entity.id, entity.order_no, entity.branch_id, "sales", _staff(entity.created_by))


def _staff(who: str | None) -> str | None:
    return who if who and not who.startswith("system:") else None  # a job's work is nobody's performance
