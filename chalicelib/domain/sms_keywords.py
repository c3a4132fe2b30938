"""Keywords customers reply by SMS."""

from __future__ import annotations

STOP_WORDS = frozenset({"STOP", "BERHENTI", "UNSUBSCRIBE"})
START_WORDS = frozenset({"START", "MULAI"})


def opt_out_change(text: str) -> bool | None:
    """True: opt out of all SMS; False: opt back in (service messages); None: not a keyword."""
    word = " ".join(text.split()).upper()
    if word in STOP_WORDS:
        return True
    if word in START_WORDS:
        return False
    return None
