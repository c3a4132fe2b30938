"""Satisfaction surveys in the CRM table: in the customer's partition, so an erasure takes them with the comment.

    survey      pk=C#<customer_id>  sk=S#<subject>#<subject_id>   (on the timeline: tl_sk=<sent_at>#survey#...)
    survey_cap  pk=C#<customer_id>  sk=V#SCAP   (last_sent_at, nps_quarter, version)

A survey is created in one transaction with the cap item at the version read and a check that the customer is
live, so two subjects finishing at once never survey a customer twice within the cap, and an erased customer
gets none. An answer is one transaction, with no read before it: the survey unanswered and not expired (the read that says
why comes only after a refusal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.surveys import Answer, Survey
from chalicelib.persistence.errors import translated
from chalicelib.persistence.tables import PROFILE_SK, CustomerItem, SurveyCapItem, SurveyItem, customer_pk
from chalicelib.persistence.tx import connection, failed_codes, live_customer

CAP_SK = "V#SCAP"
SURVEY_PREFIX = "S#"


def survey_sk(subject: str, subject_id: str) -> str:
    return f"{SURVEY_PREFIX}{subject}#{subject_id}"


@dataclass(frozen=True)
class Cap:
    last_sent_at: str | None
    nps_quarter: str | None
    version: int  # 0: no survey yet


def _item(s: Survey) -> SurveyItem:
    return SurveyItem(
        pk=customer_pk(s.customer_id), sk=survey_sk(s.subject, s.subject_id),
        tl_pk=customer_pk(s.customer_id), tl_sk=f"{s.sent_at}#survey#{s.subject}#{s.subject_id}",
        customer_id=s.customer_id, subject=s.subject, subject_id=s.subject_id, subject_ref=s.subject_ref,
        branch_id=s.branch_id, department=s.department, staff_id=s.staff_id, language=s.language,
        asks_nps=s.asks_nps, sent_at=s.sent_at, expires_at=s.expires_at, status=s.status, csat=s.csat, nps=s.nps,
        comment=s.comment, answered_at=s.answered_at, version=s.version)


def from_item(i: SurveyItem) -> Survey:
    return Survey(customer_id=i.customer_id, subject=i.subject, subject_id=i.subject_id, subject_ref=i.subject_ref,
                  branch_id=i.branch_id, department=i.department, staff_id=i.staff_id, language=i.language,
                  asks_nps=bool(i.asks_nps), sent_at=i.sent_at, expires_at=i.expires_at, status=i.status,
                  csat=int(i.csat) if i.csat is not None else None, nps=int(i.nps) if i.nps is not None else None,
                  comment=i.comment, answered_at=i.answered_at, version=int(i.version))


def get(customer_id: str, subject: str, subject_id: str) -> Survey | None:
    with translated():
        try:
            item = SurveyItem.get(customer_pk(customer_id), survey_sk(subject, subject_id), consistent_read=True)
        except SurveyItem.DoesNotExist:
            return None
    return from_item(item) if isinstance(item, SurveyItem) else None


def cap_of(customer_id: str) -> Cap:
    with translated():
        try:
            item = SurveyCapItem.get(customer_pk(customer_id), CAP_SK, consistent_read=True)
        except SurveyCapItem.DoesNotExist:
            return Cap(None, None, 0)
    if not isinstance(item, SurveyCapItem):
        return Cap(None, None, 0)
    return Cap(item.last_sent_at, item.nps_quarter, int(item.version))


def create(survey: Survey, cap: Cap, nps_quarter: str | None) -> str:
    """Store the survey and move the cap to its sending (and `nps_quarter`), if the customer is live, no survey of
    the subject exists and the cap is still at `cap`'s version. Returns "created", "exists", "stale" (the cap
    moved: read it again) or "gone" (the customer is erased or being erased)."""
    owner = customer_pk(survey.customer_id)
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, owner, PROFILE_SK, condition=live_customer())
            tx.save(_item(survey), condition=SurveyItem.pk.does_not_exist())
            tx.save(SurveyCapItem(pk=owner, sk=CAP_SK, last_sent_at=survey.sent_at, nps_quarter=nps_quarter,
                                  version=cap.version + 1),
                    condition=SurveyCapItem.pk.does_not_exist() if cap.version == 0
                    else SurveyCapItem.version == cap.version)
    except TransactWriteError as exc:
        codes = failed_codes(exc)
        if codes and codes[0] == "ConditionalCheckFailed":
            return "gone"
        if len(codes) > 1 and codes[1] == "ConditionalCheckFailed":
            return "exists"
        if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
            return "stale"
        raise
    return "created"


def save_answer(customer_id: str, subject: str, subject_id: str, answer: Answer, now: str) -> bool:
    """The answer in one transaction, without reading the survey first: its customer live, the survey there,
    unanswered, not expired at `now`, and asking the NPS question if the answer has one. False when any of that
    does not hold, or another transaction was writing the survey or the profile (the caller reads the survey to
    say which, or tries again)."""
    owner = customer_pk(customer_id)
    condition = (SurveyItem.status == "sent") & (SurveyItem.expires_at > now)
    if answer.nps is not None:
        condition &= SurveyItem.asks_nps == True  # noqa: E712 (a condition expression, not a comparison)
    actions: list[Any] = [SurveyItem.status.set("answered"), SurveyItem.csat.set(answer.csat), SurveyItem.answered_at.set(now),
               SurveyItem.version.add(1)]
    if answer.nps is not None:
        actions.append(SurveyItem.nps.set(answer.nps))
    if answer.comment is not None:
        actions.append(SurveyItem.comment.set(answer.comment))
    try:
        with translated(), TransactWrite(connection=connection()) as tx:
            tx.condition_check(CustomerItem, owner, PROFILE_SK, condition=live_customer())
            tx.update(SurveyItem(owner, survey_sk(subject, subject_id)), actions=actions, condition=condition)
    except TransactWriteError as exc:
        if {"ConditionalCheckFailed", "TransactionConflict"} & set(failed_codes(exc)):
            return False
        raise
    return True


def load(surveys: list[Survey], caps: dict[str, Cap]) -> None:
    """Bulk load of history (demo data, an import): batch writes, no conditions; `caps` the customers' cap items
    as that history leaves them (customer id -> Cap). The caller guarantees that each customer exists. Loaded
    answered, a low answer opens no follow-up (the stream consumer acts on an answer given, sent -> answered)."""
    from chalicelib.persistence.tables import Item

    with translated(), Item.batch_write() as batch:
        for s in surveys:
            batch.save(_item(s))
        for customer_id, cap in caps.items():
            batch.save(SurveyCapItem(pk=customer_pk(customer_id), sk=CAP_SK, last_sent_at=cap.last_sent_at,
                                     nps_quarter=cap.nps_quarter, version=cap.version))


def of_customer(customer_id: str) -> list[Survey]:
    """Every survey the customer was sent (one a week at most: a short list), newest first: one Query."""
    with translated():
        found = [from_item(i) for i in SurveyItem.query(customer_pk(customer_id), SurveyItem.sk.startswith(SURVEY_PREFIX))
                 if isinstance(i, SurveyItem)]
    return sorted(found, key=lambda s: s.sent_at, reverse=True)

