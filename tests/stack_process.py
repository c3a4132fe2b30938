"""The local stack (`python -m infra.local_stack`) as a real process, for tests that talk to it over HTTP.

Started as `make run` starts it (cwd = project root) on free loopback ports
(RELASI_API_PORT/RELASI_AWS_PORT), ready once it prints its `ready` line
(bounded wait), ID tokens as `make token USER=...` gets them
(`python -m infra.token <user>`), stopped with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
# Start-up with demo data: the demo's stream handled (up to PUMP_CATCH_UP_S), then the first export; beside a busy
# test worker on two cores that takes a few minutes; bounded (override with RELASI_STACK_READY_TIMEOUT).
READY_TIMEOUT_S = float(os.environ.get("RELASI_STACK_READY_TIMEOUT", "300"))
STOP_TIMEOUT_S = 60.0  # the stack's own stops are bounded (10 s each, scheduler and pump at once)
HTTP_TIMEOUT_S = 60.0
STACK_COMMAND = [sys.executable, "-m", "infra.local_stack"]

# Variables the stack sets for itself; one inherited from the test process
# (e.g. a moto started by tests/conftest.py) must not leak into it.
_STACK_OWNED = {
    "STAGE", "TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "OPS_TOPIC_ARN", "EXPORT_BUCKET", "USER_POOL_ID",
    "USER_POOL_CLIENT_ID", "CURSOR_SECRET_ARN", "JWKS_URL", "CORS_ALLOWED_ORIGINS", "BRANCHES",
    "DEFAULT_PHONE_REGION", "TIMEZONE", "SEED", "RELASI_API_PORT", "RELASI_AWS_PORT",
    "ANALYTICS_TABLE_NAME", "ANALYTICS_EXPORT_FUNCTION", "PSEUDONYM_SECRET_ARN", "RELASI_THROTTLE", "CONSOLE_LOGIN_URL",
}

READY = "Relasi ready:"  # the line infra/local_stack.py prints once it serves (log lines may say "ready" too)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_free_ports() -> tuple[int, int]:
    """(api_port, aws_port): two distinct free loopback ports."""
    api = free_port()
    aws = free_port()
    while aws == api:
        aws = free_port()
    return api, aws


def stack_env(api_port: int, aws_port: int, **extra: str) -> dict[str, str]:
    """The test process's environment minus what the stack sets itself, plus the ports and `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in _STACK_OWNED and not k.startswith(("AWS_", "MOTO_", "POWERTOOLS_"))}
    env.update(RELASI_API_PORT=str(api_port), RELASI_AWS_PORT=str(aws_port), PYTHONUNBUFFERED="1",
               RELASI_STATE_DIR="none",  # a test's stack starts afresh and leaves nothing behind (unless `extra` says)
               RELASI_LOG_FILE=os.path.join(tempfile.gettempdir(), f"relasi-stack-{api_port}.log"))
    env.update(extra)
    return env


@dataclass
class RunningStack:
    proc: subprocess.Popen[str]
    api_port: int
    aws_port: int
    env: dict[str, str]
    stderr: IO[str]
    lines: list[str] = field(default_factory=list)
    stopped_stderr: str = ""  # all of stderr, once stopped (the file is gone then)
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stderr_text(self) -> str:
        self.stderr.flush()
        return Path(self.stderr.name).read_text(errors="replace")

    def token(self, user: str) -> str:
        """What `make token USER=<user>` prints."""
        if user not in self._tokens:
            done = subprocess.run([sys.executable, "-m", "infra.token", user], cwd=ROOT, env=self.env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            self._tokens[user] = done.stdout.strip()
        return self._tokens[user]

    def request(self, method: str, path: str, user: str | None = None, **kw: Any) -> requests.Response:
        """An HTTP request to the API, with `user`'s ID token as bearer token if a user is given."""
        headers = dict(kw.pop("headers", None) or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return requests.request(method, self.base + path, headers=headers, timeout=HTTP_TIMEOUT_S, **kw)


PORT_ATTEMPTS = 3  # `make test` runs two workers: another process may take a port between its pick and its use


def start_stack(timeout_s: float = READY_TIMEOUT_S, **extra_env: str) -> RunningStack:
    """Start the stack on free ports and wait for its `ready` line; stopped again if it never comes. A port taken
    meanwhile by another process (the stack says so and exits) is picked again."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        api_port, aws_port = two_free_ports()
        env = stack_env(api_port, aws_port, **extra_env)
        # stderr (moto's request log) goes to a file: an unread pipe would fill up and block the stack.
        err = tempfile.NamedTemporaryFile("w+", prefix="relasi-stack-", suffix=".stderr", delete=False)  # noqa: SIM115
        proc = subprocess.Popen(STACK_COMMAND, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                bufsize=1)
        stack = RunningStack(proc, api_port, aws_port, env, err)
        try:
            wait_ready(stack, timeout_s)
        except BaseException:
            stop_stack(stack)
            if attempt < PORT_ATTEMPTS and "is already in use" in stack.stopped_stderr:
                continue
            raise
        return stack
    raise AssertionError("unreachable")


def wait_ready(stack: RunningStack, timeout_s: float) -> None:
    """Read stdout in a thread (into `stack.lines`, for as long as the stack runs); return once a line says
    `ready` (waiting at most `timeout_s`)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert stack.proc.stdout is not None
        for line in stack.proc.stdout:
            stack.lines.append(line.rstrip("\n"))  # all of it, also after `ready` (for failure reports)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, name="stack-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no 'ready' line within {timeout_s:.0f} s; stdout: {stack.lines}; "
                                 f"stderr tail: {stack.stderr_text()[-2000:]}")
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if line is None:
            raise AssertionError(f"stack exited ({stack.proc.wait()}) before 'ready'; stdout: {stack.lines}; "
                                 f"stderr tail: {stack.stderr_text()[-2000:]}")
        if READY in line:
            return


def stop_stack(stack: RunningStack) -> int | None:
    """Ctrl-C, as a developer stops `make run`; returns the exit code, or None if it had to be killed
    (then after a thread dump: SIGUSR1 makes the stack print every thread's stack to its stderr)."""
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
    try:
        return stack.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stack.proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        stack.proc.kill()
        stack.proc.wait(timeout=10)
        return None
    finally:
        stack.stopped_stderr = stack.stderr_text()
        stack.stderr.close()
        os.unlink(stack.stderr.name)


def stop_stack_cleanly(stack: RunningStack) -> None:
    """Stop the stack; it must exit 0 on SIGINT within STOP_TIMEOUT_S (it is killed otherwise)."""
    code = stop_stack(stack)
    assert code == 0, (f"stack did not exit 0 on SIGINT within {STOP_TIMEOUT_S:.0f} s (code {code}); "
                       f"stdout tail: {stack.lines[-20:]}; stderr tail: {stack.stopped_stderr[-8000:]}")


def wait_for(check: Any, timeout_s: float, what: str) -> Any:
    """`check()` until it returns something true (returned), polling every 0.25 s; AssertionError after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)
