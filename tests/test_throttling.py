"""Per-caller throttling: the WAF rate rules of infra/template.yaml, as the local gateway plays them.

The rules (and their limits, the parameters' defaults) are read from the
template itself (infra/throttle.py), so what is tested here is what is
deployed; `make run` enforces them (tests/test_local_stack.py sends one
caller past the lookup limit over real HTTP).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.throttle import CallerThrottle
from tests.conftest import ROOT, Caller

TEMPLATE = yaml.safe_load((ROOT / "infra" / "template.yaml").read_text())


def _default(parameter: str) -> int:
    return int(TEMPLATE["Parameters"][parameter]["Default"])


def test_the_rules_and_limits_are_the_templates() -> None:
    throttle = CallerThrottle.from_template()
    assert [(r.name, r.limit, r.key_header) for r in throttle.rules] == [
        ("caller-lookups", _default("ThrottleCallerLookups"), "authorization"),
        ("caller-contact-writes", _default("ThrottleCallerContactWrites"), "authorization"),
        ("caller-requests", _default("ThrottleCallerRequests"), "authorization"),
    ]
    assert throttle.window_s == _default("ThrottleWindowSeconds")
    blocked = throttle.responses["caller-lookups"]
    assert blocked.status == 429
    assert blocked.headers == {"Content-Type": "application/json", "Retry-After": str(_default("ThrottleWindowSeconds")),
                               "Cache-Control": "no-store"}
    assert json.loads(blocked.body) == {"type": "/problems/too-many-requests", "title": "Too many requests",
                                        "status": 429, "detail": "Too many requests from this caller; retry later."}


@pytest.mark.parametrize(("method", "path", "rules"), [
    ("GET", "/customers/lookup", {"caller-lookups", "caller-requests"}),
    ("GET", "/api/customers/lookup", {"caller-lookups", "caller-requests"}),  # behind a stage path
    ("POST", "/customers", {"caller-contact-writes", "caller-requests"}),
    ("PATCH", "/customers/01J0000000000000000000000A", {"caller-contact-writes", "caller-requests"}),
    ("POST", "/customers/01J0000000000000000000000A/interactions", {"caller-requests"}),
    ("GET", "/customers", {"caller-requests"}),
    ("PATCH", "/complaints/01J0000000000000000000000A", {"caller-requests"}),
])
def test_each_rule_covers_the_routes_it_names(method: str, path: str, rules: set[str]) -> None:
    throttle = CallerThrottle.from_template()
    assert {r.name for r in throttle.rules if r.covers(method, path)} == rules


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttled(stack: dict[str, str], token: Any) -> Any:
    """An API client whose gateway throttles as the template says, with the lookup limit lowered to 5."""
    from app import app
    from infra.gateway import test_client

    throttle = CallerThrottle.from_template(**{"caller-lookups": 5})
    clock = _Clock()
    throttle.clock = clock
    api = test_client(app, str(ROOT), throttle=throttle).http
    return api, clock


def test_a_caller_past_the_lookup_limit_gets_429_until_the_window_passes(throttled: Any, token: Any) -> None:
    api, clock = throttled
    agent, other = Caller(api, token("agent.jakarta")), Caller(api, token("agent.bandung"))
    for _ in range(5):
        assert agent.get("/customers/lookup?phone=081299990000").status_code == 404
    r = agent.get("/customers/lookup?phone=081299990000")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "60" and r.headers["Cache-Control"] == "no-store"
    assert r.json["status"] == 429 and r.json["type"] == "/problems/too-many-requests"
    assert agent.get("/customers?limit=1").status_code == 200  # other routes: another rule, not reached
    assert other.get("/customers/lookup?phone=081299990000").status_code == 404  # another caller: another count
    clock.now += 61
    assert agent.get("/customers/lookup?phone=081299990000").status_code == 404


def test_requests_without_a_token_are_not_counted_per_caller(throttled: Any) -> None:
    api, _ = throttled
    for _ in range(10):
        assert api.get("/customers/lookup?phone=081299990000").status_code == 401
