"""Response models of the public routes (the problem body every error shares is in chalicelib/api/models.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Health(BaseModel):
    status: Literal["ok"]
