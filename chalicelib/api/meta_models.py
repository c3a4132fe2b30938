"""Response models of the public routes (the problem body every error shares is in chalicelib/api/models.py)."""

from __future__ import annotations

from typing import Literal

from chalicelib.api.models import Output


class Health(Output):
    status: Literal["ok"]
