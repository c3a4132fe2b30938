"""Exactly-once bookkeeping of customer messages, and the SMS opt-out list.

Each message decision (sent or skipped) is claimed once per key, in one
transaction with the outbound interaction that shows it on the timeline. The
opt-out list is the CRM's own: SNS's opt-out API is not relied on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.domain.interactions import Interaction
from chalicelib.persistence.customers import _connection
from chalicelib.persistence.errors import translated
from chalicelib.persistence.interactions import to_item as interaction_item
from chalicelib.persistence.tables import InteractionItem, MessageClaimItem, OptOutItem, bind_table

CLAIM_SK = "CLAIM"
OPT_OUT_SK = "SMS"


def _claim_pk(key: str) -> str:
    return f"MSG#{key}"


def claim(key: str, record: Interaction) -> bool:
    """Record the decision for `key` with its timeline entry; False if it was already taken."""
    return claim_entry(key, record)[0]


def claim_entry(key: str, record: Interaction, *, send: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """claim(), telling which timeline entry holds the decision for `key`.

    Returns (True, sort key of the entry just written) or, when `key` was
    claimed before, (False, sort key of the entry that claim wrote), read from
    the failed condition's old item at no extra request. `send` adds the
    attributes a message that still has to go out is sent with (the reminders
    state machine reads and then removes them: address, subject, sms_type).
    """
    bind_table()
    item = interaction_item(record)
    for name, value in (send or {}).items():
        setattr(item, name, value)
    try:
        with translated(), TransactWrite(connection=_connection()) as tx:
            tx.save(
                MessageClaimItem(pk=_claim_pk(key), sk=CLAIM_SK, customer_id=record.customer_id, interaction_sk=item.sk),
                condition=MessageClaimItem.pk.does_not_exist(),
                return_values="ALL_OLD",
            )
            tx.save(item, condition=InteractionItem.pk.does_not_exist())
    except TransactWriteError as exc:
        for reason in exc.cancellation_reasons:
            if reason is not None and reason.code == "ConditionalCheckFailed":
                old = (reason.raw_item or {}).get("interaction_sk", {}).get("S")
                return False, str(old or "")
        raise
    return True, str(item.sk)


def release(key: str, record: Interaction) -> None:
    """Undo a claim whose message could not be sent, so a retry can send it."""
    bind_table()
    item = interaction_item(record)
    with translated(), TransactWrite(connection=_connection()) as tx:
        tx.delete(MessageClaimItem(pk=_claim_pk(key), sk=CLAIM_SK))
        tx.delete(item)


def _opt_out_pk(phone: str) -> str:
    return f"OPTOUT#{phone}"


def sms_opted_out(phone: str) -> bool:
    bind_table()
    with translated():
        try:
            OptOutItem.get(_opt_out_pk(phone), OPT_OUT_SK)
        except OptOutItem.DoesNotExist:
            return False
    return True


def claimed_entries(keys: Iterable[str]) -> tuple[dict[str, str], int]:
    """The keys among `keys` claimed already -> sort key of their timeline entry; and the BatchGetItem requests.

    A re-run looks before it claims: claiming a taken key costs a cancelled
    transaction (and, in moto, a rollback that replaces the whole table).
    """
    bind_table()
    wanted = sorted(set(keys))
    found: dict[str, str] = {}
    requests = 0
    prefix = _claim_pk("")
    for start in range(0, len(wanted), 100):
        requests += 1
        with translated():
            for item in MessageClaimItem.batch_get([(_claim_pk(k), CLAIM_SK) for k in wanted[start:start + 100]]):
                found[item.pk[len(prefix):]] = item.interaction_sk
    return found, requests


def sms_opted_out_among(phones: Iterable[str]) -> tuple[set[str], int]:
    """The numbers among `phones` that replied STOP, and how many BatchGetItem requests that took.

    sms_opted_out() for many numbers at once: 100 keys per request; only the
    numbers on the list come back as items.
    """
    bind_table()
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
    bind_table()
    with translated():
        if opted_out:
            OptOutItem(pk=_opt_out_pk(phone), sk=OPT_OUT_SK, at=at, source=source).save()
        else:
            OptOutItem(pk=_opt_out_pk(phone), sk=OPT_OUT_SK).delete()
