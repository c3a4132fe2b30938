"""The per-caller throttling of the deployed API, played locally from the same declaration.

In the cloud, AWS WAF rate-based rules (`ApiWebAcl` in infra/template.yaml)
count each caller's requests, keyed on the Authorization header's value, over
`ThrottleWindowSeconds`, and block what goes over a rule's limit with its
custom response (429, a problem body, Retry-After). `CallerThrottle.from_template()`
reads those rules, their limits (the parameters' defaults) and the response
from the template, and the local gateway (infra/gateway.py) applies them to
every request before routing, as WAF does in front of API Gateway.

Understood of WAF's statements: ByteMatchStatement on UriPath or Method
(EXACTLY, STARTS_WITH, ENDS_WITH, CONTAINS) and And/Or/Not of them; a rule
using anything else fails loudly here. Like WAF, a request without the key
(no Authorization header) is not counted by a rule keyed on it. The window
slides per request here, where WAF evaluates every few seconds: locally a
limit is reached exactly, in the cloud up to some seconds late.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).with_name("template.yaml")
Match = Callable[[str, str], bool]  # (method, path) -> does the rule's scope cover it


@dataclass
class Rule:
    name: str
    priority: int
    limit: int
    key_header: str
    covers: Match
    seen: dict[str, deque[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Blocked:
    rule: str
    status: int
    headers: dict[str, str]
    body: bytes


def _value(node: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return parameters[node["Ref"]]["Default"]
    if isinstance(node, dict) and set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        for name, spec in parameters.items():
            text = text.replace("${" + name + "}", str(spec.get("Default", "")))
        return text
    return node


_POSITIONS: dict[str, Callable[[str, str], bool]] = {
    "EXACTLY": lambda value, wanted: value == wanted,
    "STARTS_WITH": lambda value, wanted: value.startswith(wanted),
    "ENDS_WITH": lambda value, wanted: value.endswith(wanted),
    "CONTAINS": lambda value, wanted: wanted in value,
}


def _statement(node: dict[str, Any]) -> Match:
    (kind, body), = node.items()
    if kind == "ByteMatchStatement":
        (target,) = body["FieldToMatch"]
        if target not in ("UriPath", "Method"):
            raise ValueError(f"WAF field {target} is not played locally")
        test, wanted = _POSITIONS[body["PositionalConstraint"]], body["SearchString"]
        return lambda method, path: test(path if target == "UriPath" else method, wanted)
    if kind in ("AndStatement", "OrStatement"):
        parts = [_statement(s) for s in body["Statements"]]
        combine = all if kind == "AndStatement" else any
        return lambda method, path: combine(p(method, path) for p in parts)
    if kind == "NotStatement":
        inner = _statement(body["Statement"])
        return lambda method, path: not inner(method, path)
    raise ValueError(f"WAF statement {kind} is not played locally")


class CallerThrottle:
    """Counts requests per rule and caller; `check` says whether (and how) a request is blocked."""

    def __init__(self, rules: list[Rule], window_s: float, responses: dict[str, Blocked],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = sorted(rules, key=lambda r: r.priority)
        self.window_s = window_s
        self.responses = responses
        self.clock = clock
        self._lock = threading.Lock()

    @classmethod
    def from_template(cls, template: dict[str, Any] | None = None, **overrides: Any) -> CallerThrottle:
        template = template or yaml.safe_load(TEMPLATE.read_text())
        parameters = dict(template["Parameters"])
        acl = template["Resources"]["ApiWebAcl"]["Properties"]
        bodies = acl.get("CustomResponseBodies", {})
        rules: list[Rule] = []
        responses: dict[str, Blocked] = {}
        windows: set[int] = set()
        for spec in acl["Rules"]:
            rate = spec["Statement"]["RateBasedStatement"]
            (key,) = rate["CustomKeys"]
            scope = rate.get("ScopeDownStatement")
            windows.add(int(_value(rate["EvaluationWindowSec"], parameters)))
            rules.append(Rule(spec["Name"], int(spec["Priority"]), int(_value(rate["Limit"], parameters)),
                              key["Header"]["Name"].lower(), _statement(scope) if scope else (lambda m, p: True)))
            custom = spec["Action"]["Block"]["CustomResponse"]
            body = bodies[custom["CustomResponseBodyKey"]]
            content_type = {"APPLICATION_JSON": "application/json", "TEXT_PLAIN": "text/plain",
                            "TEXT_HTML": "text/html"}[body["ContentType"]]
            headers = {h["Name"]: str(_value(h["Value"], parameters)) for h in custom.get("ResponseHeaders", [])}
            responses[spec["Name"]] = Blocked(spec["Name"], int(custom["ResponseCode"]),
                                              {"Content-Type": content_type, **headers}, body["Content"].encode())
        (window,) = windows
        for rule in rules:  # e.g. tests: a lower limit for one rule
            if rule.name in overrides:
                rule.limit = int(overrides[rule.name])
        return cls(rules, float(window), responses)

    def check(self, method: str, path: str, headers: dict[str, Any]) -> Blocked | None:
        lowered = {k.lower(): v for k, v in headers.items()}
        now = self.clock()
        with self._lock:
            for rule in self.rules:
                key = lowered.get(rule.key_header)
                if key is None or not rule.covers(method.upper(), path.split("?", 1)[0]):
                    continue
                seen = rule.seen.setdefault(str(key), deque())
                while seen and seen[0] <= now - self.window_s:
                    seen.popleft()
                seen.append(now)
                if len(seen) > rule.limit:
                    return self.responses[rule.name]
        return None
