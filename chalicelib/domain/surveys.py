"""Satisfaction surveys: one question after a resolved complaint, a completed work order or a delivered order.

The customer gets one message with a link to a page (`/s/{token}`): "How satisfied are you with ...?" 1-5
(CSAT), an optional comment and, at most once a quarter per customer, the 0-10 "would you recommend us" question
(NPS). Indonesian handsets cannot reply to business SMS, so the answer is always the page, never a reply.

The rules here are pure; who is asked and when is chalicelib/workflows/surveys.py, storage
chalicelib/persistence/surveys.py:

- one survey per subject (its key is the subject's), whatever redelivers the event that asked for it;
- at most one survey per customer in SURVEY_CAP_DAYS (the cap item, in the same transaction as the survey);
- the NPS question once per calendar quarter (local time) per customer;
- an answer is taken once, within SURVEY_TTL_DAYS of the message;
- a CSAT of LOW_CSAT or less opens one follow-up complaint (customer_care, medium), linked to the subject.

The comment is free text and personal data: it is kept on the survey (the customer's timeline shows it to
staff), and never logged, counted or exported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.config import SURVEY_COMMENT_MAX_CHARS as COMMENT_MAX_CHARS
from chalicelib.config import SURVEY_LOW_CSAT as LOW_CSAT
from chalicelib.config import SURVEY_TTL_DAYS
from chalicelib.domain.clock import iso
from chalicelib.domain.errors import Conflict, DomainError, FieldError, ValidationFailed

CSAT_SCORES = range(1, 6)
NPS_SCORES = range(0, 11)
FOLLOW_UP_BY = "system:surveys"  # who opens the follow-up complaint (its customer gets no "received" message)


class Subject(StrEnum):
    COMPLAINT = "complaint"
    WORK_ORDER = "work_order"
    ORDER = "order"


SUBJECT_BYTE = {Subject.COMPLAINT: 0, Subject.WORK_ORDER: 1, Subject.ORDER: 2}
_LINK = re.compile(r"/s/[A-Za-z0-9_-]{20,}")


def hide_link(text: str) -> str:
    """A survey message as staff see it on the timeline: the link's token hidden, so that nobody but the
    customer answers (the message went out whole)."""
    return _LINK.sub("/s/…", text)


class Expired(DomainError):
    """The survey's link is older than SURVEY_TTL_DAYS: answered with a page that says so (410)."""


@dataclass(frozen=True)
class Asked:
    """What a survey is about, as the workflow that asks for it knows it."""

    subject: Subject
    subject_id: str
    subject_ref: str  # what the customer reads: an order's number, a complaint's or work order's reference
    branch_id: str  # where the subject was handled: satisfaction is counted there
    department: str
    staff_id: str | None  # who resolved, completed or delivered it (staff performance); None: nobody on record


@dataclass(frozen=True)
class Survey:
    customer_id: str
    subject: str
    subject_id: str
    subject_ref: str
    branch_id: str
    department: str
    staff_id: str | None
    language: str
    asks_nps: bool
    sent_at: str
    expires_at: str
    status: str = "sent"  # "sent" | "answered"
    csat: int | None = None
    nps: int | None = None
    comment: str | None = None
    answered_at: str | None = None
    version: int = 1

    @property
    def key(self) -> str:
        """One survey per subject: the message's claim and the survey's sort key are made from it."""
        return f"{self.subject}#{self.subject_id}"

    @property
    def low(self) -> bool:
        return self.csat is not None and self.csat <= LOW_CSAT

    def expired(self, now: datetime) -> bool:
        return iso(now) >= self.expires_at

    def to_timeline_item(self) -> dict[str, Any]:
        return {"type": "survey", "subject": self.subject, "subject_id": self.subject_id,
                "subject_ref": self.subject_ref, "branch_id": self.branch_id, "department": self.department,
                "status": self.status, "asks_nps": self.asks_nps, "sent_at": self.sent_at,
                "expires_at": self.expires_at, "csat": self.csat, "nps": self.nps, "comment": self.comment,
                "answered_at": self.answered_at}


def new_survey(asked: Asked, *, customer_id: str, language: str, asks_nps: bool, now: datetime) -> Survey:
    return Survey(customer_id=customer_id, subject=asked.subject.value, subject_id=asked.subject_id,
                  subject_ref=asked.subject_ref, branch_id=asked.branch_id, department=asked.department,
                  staff_id=asked.staff_id, language=language if language in ("id", "en") else "id",
                  asks_nps=asks_nps, sent_at=iso(now), expires_at=iso(now + timedelta(days=SURVEY_TTL_DAYS)))


def nps_group(score: int) -> str:
    """9-10 promoter, 7-8 passive, 0-6 detractor (NPS = promoters' share - detractors' share, in points)."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def cap_allows(last_sent_at: str | None, now: datetime, cap_days: int) -> bool:
    """No survey went to the customer in the last `cap_days` days."""
    return last_sent_at is None or last_sent_at <= iso(now - timedelta(days=cap_days))


def quarter(local_day: Any) -> str:
    """The calendar quarter of a local date: 2026Q4."""
    return f"{local_day.year}Q{(local_day.month - 1) // 3 + 1}"


@dataclass(frozen=True)
class Answer:
    csat: int
    nps: int | None
    comment: str | None


def _score(form: dict[str, str], name: str, scores: range, *, required: bool) -> tuple[int | None, FieldError | None]:
    text = (form.get(name) or "").strip()
    if not text:
        return None, FieldError(name, "Choose a score.") if required else None
    if not text.isdigit() or int(text) not in scores:
        return None, FieldError(name, f"Must be a whole number from {scores.start} to {scores.stop - 1}.")
    return int(text), None


def read_answer(form: dict[str, str], *, asks_nps: bool) -> Answer:
    """The page's form: `csat` 1-5 (required), `nps` 0-10 (optional; ignored unless `asks_nps`), `comment`
    (optional, at most COMMENT_MAX_CHARS). Raises ValidationFailed naming each field (never echoing the text)."""
    errors: list[FieldError] = []
    csat, error = _score(form, "csat", CSAT_SCORES, required=True)
    errors += [error] if error else []
    nps = None
    if asks_nps:
        nps, error = _score(form, "nps", NPS_SCORES, required=False)
        errors += [error] if error else []
    comment = " ".join((form.get("comment") or "").split()) or None  # one line: no control characters
    if comment is not None and len(comment) > COMMENT_MAX_CHARS:
        errors.append(FieldError("comment", f"At most {COMMENT_MAX_CHARS} characters."))
    if errors or csat is None:
        raise ValidationFailed(errors, "The answer is not complete.")
    return Answer(csat=csat, nps=nps, comment=comment)


def check_open(survey: Survey, now: datetime) -> None:
    """Raises Conflict (answered already) or Expired unless the survey still takes an answer."""
    if survey.status == "answered":
        raise Conflict("This survey was answered already.")
    if survey.expired(now):
        raise Expired("This survey has expired.")


def answered(survey: Survey, answer: Answer, now: datetime) -> Survey:
    """The survey with its answer (an NPS it did not ask left out). Raises as `check_open`."""
    check_open(survey, now)
    return replace(survey, status="answered", csat=answer.csat, nps=answer.nps if survey.asks_nps else None,
                   comment=answer.comment, answered_at=iso(now), version=survey.version + 1)


def follow_up_id(survey: Survey) -> str:
    """The follow-up complaint's id, made from the survey's subject, so a redelivered answer finds it rather than
    opening another: the subject's time and 80 bits of a hash."""
    import hashlib

    from ulid import ULID

    tail = hashlib.sha256(f"survey-follow-up#{survey.key}".encode()).digest()[:10]
    return str(ULID.from_bytes(ULID.from_str(survey.subject_id).bytes[:6] + tail))


SUBJECT_WORDS = {"complaint": "complaint", "work_order": "service", "order": "order"}


def follow_up(survey: Survey, branch_id: str, now: datetime) -> Any:
    """The complaint a low answer opens: category customer_care, severity medium, `ref` the subject's id, in the
    customer's branch now. Its description names the score and the subject, never the comment (the survey keeps
    that, on the customer's timeline)."""
    from chalicelib.domain.complaints import NewComplaint, new_case

    what = SUBJECT_WORDS[survey.subject]
    new = NewComplaint(category="customer_care", severity="medium", ref=survey.subject_id,
                       subject=f"Low satisfaction ({survey.csat}/5) after {what} {survey.subject_ref}",
                       description=f"The customer answered the survey about {what} {survey.subject_ref} "
                                   f"({survey.department}) with {survey.csat}/5"
                                   f"{' and a comment (on their timeline)' if survey.comment else ''}. "
                                   "Call them back.")
    return new_case(new, case_id=follow_up_id(survey), customer_id=survey.customer_id, branch_id=branch_id,
                    by=FOLLOW_UP_BY, now=now)
