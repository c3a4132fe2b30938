"""The local stack's ports, from RELASI_API_PORT and RELASI_AWS_PORT, for `make run` and the commands that talk to it."""

from __future__ import annotations

import os

AWS_PORT_DEFAULT = 4566
API_PORT_DEFAULT = 8000


def env_port(name: str, default: int) -> int:
    """The port the environment variable `name` gives (or `default`); a clear exit, not a traceback, if it is none."""
    value = os.environ.get(name) or str(default)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"error: {name} must be a port number (1-65535), not {value!r}")
    return int(value)


def aws_port() -> int:
    """moto's port: RELASI_AWS_PORT, default 4566."""
    return env_port("RELASI_AWS_PORT", AWS_PORT_DEFAULT)


def api_port() -> int:
    """The API's port: RELASI_API_PORT, default 8000."""
    return env_port("RELASI_API_PORT", API_PORT_DEFAULT)
