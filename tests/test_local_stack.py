"""`make run` end to end: the local stack as a real process, driven over real HTTP.

Starts `python -m infra.local_stack` exactly as `make run` does (cwd = project
root, demo data on, free loopback ports in RELASI_API_PORT/RELASI_AWS_PORT),
waits for its `ready` line, gets ID tokens the way `make token USER=...` does
(`python -m infra.token <user>`), then talks to 127.0.0.1 with `requests` as
a web client would. The stack starts once for the module and is stopped with
Ctrl-C (SIGINT) at the end, which must exit 0.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
REGION = "ap-southeast-3"
PROBLEM = "application/problem+json"
ALLOWED_ORIGIN = "http://localhost:3000"  # in CORS_ALLOWED_ORIGINS of the dev stage (.chalice/config.json)
# Start-up with demo data takes seconds; bounded, with room for a loaded CI
# machine (override with RELASI_STACK_READY_TIMEOUT).
READY_TIMEOUT_S = float(os.environ.get("RELASI_STACK_READY_TIMEOUT", "120"))
STOP_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 60.0

# Variables the stack sets for itself; one inherited from the test process
# (e.g. a moto started by tests/conftest.py) must not leak into it.
_STACK_OWNED = {
    "STAGE", "TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "OPS_TOPIC_ARN", "EXPORT_BUCKET", "USER_POOL_ID",
    "USER_POOL_CLIENT_ID", "CURSOR_SECRET", "JWKS_URL", "CORS_ALLOWED_ORIGINS", "BRANCHES",
    "DEFAULT_PHONE_REGION", "TIMEZONE", "SEED", "RELASI_API_PORT", "RELASI_AWS_PORT",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def two_free_ports() -> tuple[int, int]:
    api = free_port()
    aws = free_port()
    while aws == api:
        aws = free_port()
    return api, aws


def stack_env(api_port: int, aws_port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in _STACK_OWNED and not k.startswith(("AWS_", "MOTO_", "POWERTOOLS_"))}
    env.update(RELASI_API_PORT=str(api_port), RELASI_AWS_PORT=str(aws_port), PYTHONUNBUFFERED="1", **extra)
    return env


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    api_port: int
    aws_port: int
    env: dict[str, str]
    stderr: IO[str]
    lines: list[str] = field(default_factory=list)
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
        headers = dict(kw.pop("headers", None) or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user)}"
        return requests.request(method, self.base + path, headers=headers, timeout=HTTP_TIMEOUT_S, **kw)


def start_stack(env: dict[str, str], api_port: int, aws_port: int) -> Stack:
    # stderr (moto's request log) goes to a file: an unread pipe would fill up and block the stack.
    err = tempfile.NamedTemporaryFile("w+", prefix="relasi-stack-", suffix=".stderr", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "infra.local_stack"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)
    return Stack(proc, api_port, aws_port, env, err)


def wait_ready(stack: Stack, timeout_s: float) -> None:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert stack.proc.stdout is not None
        for line in stack.proc.stdout:
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
        stack.lines.append(line.rstrip("\n"))
        if "ready" in line:
            return


def stop(stack: Stack) -> int | None:
    """Ctrl-C, as a developer stops `make run`; returns the exit code, or None if it had to be killed."""
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
    try:
        return stack.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stack.proc.kill()
        stack.proc.wait(timeout=10)
        return None
    finally:
        stack.stderr.close()
        os.unlink(stack.stderr.name)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    api_port, aws_port = two_free_ports()
    s = start_stack(stack_env(api_port, aws_port), api_port, aws_port)
    try:
        wait_ready(s, READY_TIMEOUT_S)
    except BaseException:
        stop(s)
        raise
    yield s
    tail = s.stderr_text()[-2000:]
    code = stop(s)
    assert code == 0, f"stack did not exit 0 on SIGINT within {STOP_TIMEOUT_S:.0f} s (code {code}); stderr: {tail}"


def unique_local_phone() -> str:
    """An Indonesian mobile number in local form, outside the demo data's prefixes."""
    n = random.Random(f"{os.getpid()}-{time.time_ns()}").randint(0, 99_999_999)
    return f"0815-{n // 10000:04d}-{n % 10000:04d}"


def assert_problem(r: requests.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith(PROBLEM), r.headers
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == status
    return dict(body)


# --- the tests ---------------------------------------------------------------

def test_ready_line_names_the_ports(stack: Stack) -> None:
    ready = next(line for line in stack.lines if "ready" in line)
    assert f"127.0.0.1:{stack.api_port}" in ready and f"127.0.0.1:{stack.aws_port}" in ready


def test_health(stack: Stack) -> None:
    r = stack.request("GET", "/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"status": "ok"}


def test_agent_lists_seeded_customers_of_own_branch_page_by_page(stack: Stack) -> None:
    first = stack.request("GET", "/customers", "agent.jakarta", params={"limit": 10})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 10
    assert {c["branch_id"] for c in page["items"]} == {"jakarta"}
    assert page["next_cursor"]  # ~67 seeded jakarta customers: more than one page

    second = stack.request("GET", "/customers", "agent.jakarta", params={"limit": 10, "cursor": page["next_cursor"]})
    assert second.status_code == 200, second.text
    page2 = second.json()
    assert page2["items"]
    assert {c["branch_id"] for c in page2["items"]} == {"jakarta"}
    assert not {c["id"] for c in page["items"]} & {c["id"] for c in page2["items"]}

    tampered = page["next_cursor"][:-2] + ("AA" if not page["next_cursor"].endswith("AA") else "BB")
    assert_problem(stack.request("GET", "/customers", "agent.jakarta", params={"limit": 10, "cursor": tampered}), 400)


def test_customer_life_cycle_as_a_web_client(stack: Stack) -> None:
    agent = "agent.jakarta"
    phone = unique_local_phone()
    created = stack.request("POST", "/customers", agent, json={"name": "Rina Halim", "phone": phone})
    assert created.status_code == 201, created.text
    c = created.json()
    cid = c["id"]
    assert created.headers["Location"] == f"/customers/{cid}"
    assert created.headers["ETag"] == '"v1"'
    assert c["branch_id"] == "jakarta"
    assert c["phone"] == "+62" + phone.replace("-", "")[1:]

    got = stack.request("GET", f"/customers/{cid}", agent)
    assert got.status_code == 200
    assert got.json() == c
    etag = got.headers["ETag"]
    assert etag == created.headers["ETag"]

    patched = stack.request("PATCH", f"/customers/{cid}", agent, json={"city": "Depok", "tags": ["vip"]},
                            headers={"If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["city"] == "Depok" and patched.json()["tags"] == ["vip"]
    assert patched.headers["ETag"] not in ("", etag)
    assert patched.json()["version"] == c["version"] + 1

    stale = stack.request("PATCH", f"/customers/{cid}", agent, json={"city": "Bekasi"}, headers={"If-Match": etag})
    assert_problem(stale, 412)
    assert_problem(stack.request("PATCH", f"/customers/{cid}", agent, json={"city": "Bekasi"}), 428)
    assert stack.request("GET", f"/customers/{cid}", agent).json()["city"] == "Depok"

    added = stack.request("POST", f"/customers/{cid}/interactions", agent,
                          json={"channel": "phone", "direction": "inbound", "kind": "inquiry",
                                "summary": "Asked about the service schedule."})
    assert added.status_code == 201, added.text
    interaction = added.json()
    assert added.headers["Location"] == f"/customers/{cid}/interactions/{interaction['id']}"

    timeline = stack.request("GET", f"/customers/{cid}/timeline", agent)
    assert timeline.status_code == 200, timeline.text
    entries = [e for e in timeline.json()["items"] if e["id"] == interaction["id"]]
    assert len(entries) == 1 and entries[0]["type"] == "interaction"
    assert entries[0]["summary"] == "Asked about the service schedule."

    found = stack.request("GET", "/customers/lookup", agent, params={"phone": phone})
    assert found.status_code == 200, found.text
    assert found.json()["id"] == cid

    assert_problem(stack.request("GET", f"/customers/{cid}", "agent.bandung"), 404)

    assert_problem(stack.request("DELETE", f"/customers/{cid}", agent), 403)
    deleted = stack.request("DELETE", f"/customers/{cid}", "manager.jakarta")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    assert_problem(stack.request("GET", f"/customers/{cid}", agent), 404)
    assert_problem(stack.request("GET", "/customers/lookup", agent, params={"phone": phone}), 404)


def test_no_token_is_401_problem_json(stack: Stack) -> None:
    body = assert_problem(stack.request("GET", "/customers"), 401)
    assert body["title"]
    assert_problem(stack.request("GET", "/customers", headers={"Authorization": "Bearer not-a-jwt"}), 401)


def test_cors_preflight_and_exposed_headers(stack: Stack) -> None:
    pre = stack.request("OPTIONS", "/customers", headers={"Origin": ALLOWED_ORIGIN,
                                                          "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "authorization,if-match"})
    assert pre.status_code in (200, 204), pre.text
    assert pre.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    allowed = {h.strip().lower() for h in pre.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert {"authorization", "if-match", "idempotency-key"} <= allowed, pre.headers
    methods = {m.strip() for m in pre.headers.get("Access-Control-Allow-Methods", "").split(",")}
    assert {"GET", "POST"} <= methods, pre.headers

    got = stack.request("GET", "/customers", "agent.jakarta", params={"limit": 1}, headers={"Origin": ALLOWED_ORIGIN})
    assert got.status_code == 200
    assert got.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    exposed = {h.strip().lower() for h in got.headers.get("Access-Control-Expose-Headers", "").split(",")}
    assert {"etag", "location"} <= exposed, got.headers

    for method, user in (("OPTIONS", None), ("GET", "agent.jakarta")):
        other = stack.request(method, "/customers", user, headers={"Origin": "http://evil.example",
                                                                   "Access-Control-Request-Method": "POST"})
        assert other.status_code < 500
        assert "Access-Control-Allow-Origin" not in other.headers, (method, other.headers)


def test_aws_side_has_the_table_and_the_user_pool(stack: Stack) -> None:
    import boto3

    kw: dict[str, Any] = dict(endpoint_url=f"http://127.0.0.1:{stack.aws_port}", region_name=REGION,
                              aws_access_key_id="local", aws_secret_access_key="local")
    tables = boto3.client("dynamodb", **kw).list_tables()["TableNames"]
    assert "relasi-dev" in tables, tables
    pools = boto3.client("cognito-idp", **kw).list_user_pools(MaxResults=60)["UserPools"]
    assert "relasi-dev" in [p["Name"] for p in pools], pools


def test_taken_api_port_fails_fast_naming_the_port() -> None:
    api_port, aws_port = two_free_ports()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", api_port))
        taken.listen(1)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "infra.local_stack"], cwd=ROOT,
                              env=stack_env(api_port, aws_port), capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
    assert done.returncode != 0, done
    assert str(api_port) in done.stderr, done.stderr
    assert "ready" not in done.stdout
    assert elapsed < 20, f"took {elapsed:.1f} s to give up"
