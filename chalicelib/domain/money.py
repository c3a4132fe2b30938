"""Money: exact IDR amounts with 2 decimals, as `Decimal`; in JSON and in DynamoDB as text ("1250000.00"),
never a float."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MONEY_MAX = Decimal("9999999999999.99")  # 10 trillion rupiah: beyond any one price or order
MONEY_TEXT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")  # ASCII digits only: "١٢٣" is no amount


def parse_money(text: str) -> Decimal:
    """A non-negative amount written as digits with at most 2 decimals ("1250000", "1250000.5"); ValueError
    otherwise (no sign, exponent, thousands separator or more decimals: an amount is never guessed)."""
    if not MONEY_TEXT.fullmatch(text):
        raise ValueError("must be an amount as a string of digits with at most 2 decimals, e.g. \"1250000.00\"")
    return Decimal(text).quantize(CENT)


def round_money(amount: Decimal) -> Decimal:
    """To the cent, half up (tax on a line)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(amount: Decimal | None) -> str | None:
    """The amount as its JSON and stored text, always 2 decimals; None stays None."""
    return None if amount is None else f"{amount.quantize(CENT):f}"


def rupiah(amount: Decimal | int | str) -> str:
    """`Rp 1.250.000` (whole rupiah, half up), `Rp 1.250.000,50` when there are cents: how a person reads it."""
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    whole, cents = divmod(abs(value), 1)
    text = f"{int(whole):,}".replace(",", ".")
    if cents:
        text += "," + f"{int(cents * 100):02d}"
    return ("-" if value < 0 else "") + "Rp " + text
