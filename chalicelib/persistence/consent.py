"""Consent's storage: the CRM's own SMS opt-out list (a number that replied STOP; SNS's opt-out API is not
relied on). Marketing consent itself is part of the profile (chalicelib/persistence/customers.py)."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.persistence.errors import translated
from chalicelib.persistence.tables import OptOutItem

OPT_OUT_SK = "SMS"


def _opt_out_pk(phone: str) -> str:
    return f"OPTOUT#{phone}"


def sms_opted_out(phone: str) -> bool:
    with translated():
        try:
            OptOutItem.get(_opt_out_pk(phone), OPT_OUT_SK)
        except OptOutItem.DoesNotExist:
            return False
    return True


def sms_opted_out_among(phones: Iterable[str]) -> tuple[set[str], int]:
    """The numbers among `phones` that replied STOP, and how many BatchGetItem requests that took.

    sms_opted_out() for many numbers at once: 100 keys per request; only the
    numbers on the list come back as items.
    """
    wanted = sorted(set(phones))
    found: set[str] = set()
    requests = 0
    prefix = _opt_out_pk("")
    for start in range(0, len(wanted), 100):
        chunk = wanted[start:start + 100]
        requests += 1
        with translated():
            for item in OptOutItem.batch_get([(_opt_out_pk(p), OPT_OUT_SK) for p in chunk]):
                found.add(item.pk[len(prefix):])
    return found, requests


def set_sms_opt_out(phone: str, opted_out: bool, *, at: str, source: str) -> None:
    with translated():
        if opted_out:
            OptOutItem(pk=_opt_out_pk(phone), sk=OPT_OUT_SK, at=at, source=source).save()
        else:
            OptOutItem(pk=_opt_out_pk(phone), sk=OPT_OUT_SK).delete()
