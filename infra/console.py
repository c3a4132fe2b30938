"""`make run`'s terminal: a readable line per request and per workflow event; every structured line in a file.

The functions log as they do in Lambda (Powertools JSON lines, EMF metric
lines) on stdout. In the local stack, stdout is a `Console`: each complete
line goes to the log file (RELASI_LOG_FILE, default build/logs/local-stack.log,
appended to) as it is, and to the terminal as one short line, or not at all
for metric lines:

    17:14:12 GET /customers -> 200 (134.5 ms)
    17:14:15 complaint message  complaint_id=... message_kind=complaint_received outcome=sent

Lines that are not JSON (the stack's own progress lines) pass through as they
are. Log records hold no personal data (chalicelib/observability.py), so
neither does the terminal.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_LOG_FILE = PROJECT_DIR / "build" / "logs" / "local-stack.log"
# Powertools' own keys of a log record: left out of the terminal's line
_STANDARD = {"level", "location", "message", "timestamp", "service", "cold_start", "function_name",
             "function_memory_size", "function_arn", "function_request_id", "xray_trace_id", "sampling_rate",
             "correlation_id"}


def log_file() -> Path:
    return Path(os.environ.get("RELASI_LOG_FILE") or DEFAULT_LOG_FILE)


def readable(line: str) -> str | None:
    """The terminal's line for one stdout line (None: the log file only)."""
    if not line.startswith("{"):
        return line
    try:
        record: Any = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    if "_aws" in record:
        return None  # an EMF metric line: CloudWatch's, not a person's
    stamp = str(record.get("timestamp", ""))
    clock = stamp[11:19] if len(stamp) >= 19 else ""
    level = str(record.get("level", ""))
    prefix = f"{clock} " + ("" if level in ("INFO", "") else f"{level} ")
    if record.get("message") == "request":
        return (f"{prefix}{record.get('method', '?')} {record.get('route', '?')} -> {record.get('status', '?')} "
                f"({record.get('duration_ms', '?')} ms)")
    extra = "  ".join(f"{k}={v}" for k, v in record.items() if k not in _STANDARD)
    return f"{prefix}{record.get('message', '')}" + (f"  {extra}" if extra else "")


class Console(io.TextIOBase):
    """A stdout that writes every line to `log` and its readable form to `terminal`."""

    def __init__(self, terminal: TextIO, log: TextIO) -> None:
        super().__init__()
        self.terminal, self.log = terminal, log
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self.log.write(line + "\n")
                shown = readable(line)
                if shown is not None:
                    self.terminal.write(shown + "\n")
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self.log.flush()
            self.terminal.flush()

    def fileno(self) -> int:
        return self.terminal.fileno()


def install() -> Path:
    """Make sys.stdout a Console over the terminal and the log file; returns the file's path."""
    path = log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    log = path.open("a", encoding="utf-8", buffering=1)
    sys.stdout = Console(sys.stdout, log)
    return path
