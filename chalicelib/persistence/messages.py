"""Exactly-once bookkeeping of customer messages, and the SMS opt-out list.

Each message decision (sent or skipped) is claimed once per key, in one
transaction with the outbound interaction that shows it on the timeline. The
opt-out list is the CRM's own: SNS's opt-out API is not relied on.
"""

from __future__ import annotations

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
    bind_table()
    item = interaction_item(record)
    try:
        with translated(), TransactWrite(connection=_connection()) as tx:
            tx.save(
                MessageClaimItem(pk=_claim_pk(key), sk=CLAIM_SK, customer_id=record.customer_id, interaction_sk=item.sk),
                condition=MessageClaimItem.pk.does_not_exist(),
            )
            tx.save(item, condition=InteractionItem.pk.does_not_exist())
    except TransactWriteError as exc:
        if any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons):
            return False
        raise
    return True


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


def set_sms_opt_out(phone: str, opted_out: bool, *, at: str, source: str) -> None:
    bind_table()
    with translated():
        if opted_out:
            OptOutItem(pk=_opt_out_pk(phone), sk=OPT_OUT_SK, at=at, source=source).save()
        else:
            OptOutItem(pk=_opt_out_pk(phone), sk=OPT_OUT_SK).delete()
