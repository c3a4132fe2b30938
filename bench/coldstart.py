"""Cold start: what importing `app`, and a first request, cost a fresh process, against the floor.

Every Lambda of a Chalice app on boto3 pays at least `import boto3, chalice`;
the target is that importing `app` costs no more than 1.3 times that floor.
What users wait for is the first request of a fresh Lambda, though: the probe
`first` imports `app` and what a first GET /customers/{id} imports (its
capability's routes resolve their models; that route takes none, so no
pydantic), the customer use cases with PynamoDB, jwt and the authorizer,
Powertools Logger/Metrics, and makes the DynamoDB client; its floor
`floor+client` imports boto3 and chalice and makes the same client. Both
are CPU time of the process (time.process_time), target 1.4.
Each probe is a fresh `python -c` process started in the project directory;
the probes run interleaved (the order rotates every round) so a noisy
neighbour or a frequency change hits all of them alike, and the median of
the rounds is reported. Two numbers per probe:

- import: measured inside the process with time.perf_counter() around the
  import statement (no interpreter start-up, no exit);
- wall: the whole process as the parent sees it (start-up + import + exit).

A round of every probe runs first and is thrown away (it writes the .pyc files).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from bench import PROJECT_DIR

TARGET_RATIO = 1.3
FIRST_REQUEST_TARGET_RATIO = 1.4

# Each probe prints a JSON list of seconds: [import] or the stages of the first request.
_TIMED = "import time, json\nt = time.perf_counter()\n{stmt}\nprint(json.dumps([time.perf_counter() - t]))\n"

# What the first request adds after `import app`, stage by stage. A stage that
# fails (code being renamed under us) reports null instead of breaking the bench.
_FIRST_REQUEST = '''
import json, time
t = time.perf_counter()
import app
stages = [time.perf_counter() - t]
def stage(fn):
    t = time.perf_counter()
    try:
        fn()
    except Exception:
        stages.append(None)
    else:
        stages.append(time.perf_counter() - t)
def services():
    import chalicelib.services.customers, chalicelib.api.customers_models
def auth_and_middleware():
    import jwt, chalicelib.api.auth
    from chalicelib.observability import logger, metrics
    logger(); metrics()
def idempotency():
    import aws_lambda_powertools.utilities.idempotency
stage(services)
stage(auth_and_middleware)
stage(idempotency)
print(json.dumps(stages))
'''

# CPU time of the first GET /customers/{id} of a fresh process, and of its floor (same DynamoDB client).
_CPU = "import json, os, time\nos.environ.setdefault('AWS_DEFAULT_REGION', 'ap-southeast-3')\n" \
       "t = time.process_time()\n{stmt}\nprint(json.dumps([time.process_time() - t]))\n"
_GET_CUSTOMER = """import app
from chalicelib.api.customers import get_customer
from chalicelib.api.http import models_of
models_of(get_customer)
import chalicelib.services.customers
import jwt, chalicelib.api.auth
from chalicelib.observability import logger, metrics
logger(); metrics()
from chalicelib.persistence.tables import Item
Item._get_connection().connection.client"""

PROBES: dict[str, str] = {
    "python": _TIMED.format(stmt="pass"),
    "floor": _TIMED.format(stmt="import boto3, chalice"),
    "app": _TIMED.format(stmt="import app"),
    "first": _FIRST_REQUEST,
    "floor_client": _CPU.format(stmt="import boto3, chalice\nboto3.client('dynamodb')"),
    "get_customer": _CPU.format(stmt=_GET_CUSTOMER),
}

LABELS = {
    "python": "`python -c pass` (interpreter only)",
    "floor": "floor: `import boto3, chalice`",
    "app": "`import app` (cold start)",
    "floor_client": "floor: `import boto3, chalice` + a DynamoDB client (CPU)",
    "get_customer": "first GET /customers/{id}: `import app`, its models, use cases, jwt + authorizer, "
                    "Logger/Metrics, the DynamoDB client (CPU)",
}

FIRST_STAGES = [
    "`chalicelib.services.customers` + `chalicelib.api.customers_models` (first customer request with a body)",
    "`jwt` + `chalicelib.api.auth` + powertools Logger/Metrics (authorizer, middleware)",
    "`aws_lambda_powertools.utilities.idempotency` (first POST with Idempotency-Key)",
]


@dataclass
class Samples:
    imports: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    stages: list[list[float | None]] = field(default_factory=list)


@dataclass
class ColdStart:
    runs: int
    samples: dict[str, Samples]
    heaviest: list[tuple[str, float]]  # top-level imports under `app`, cumulative seconds

    def median_import(self, probe: str) -> float:
        return statistics.median(self.samples[probe].imports)

    def median_wall(self, probe: str) -> float:
        return statistics.median(self.samples[probe].walls)

    @property
    def import_ratio(self) -> float:
        return self.median_import("app") / self.median_import("floor")

    @property
    def wall_ratio(self) -> float:
        return self.median_wall("app") / self.median_wall("floor")

    @property
    def first_request_ratio(self) -> float:
        """CPU time of a fresh process's first GET /customers/{id} against its floor."""
        return self.median_import("get_customer") / self.median_import("floor_client")

    def stage_median(self, index: int) -> float | None:
        values = [s[index] for s in self.samples["first"].stages if len(s) > index and s[index] is not None]
        return statistics.median(values) if values else None  # type: ignore[type-var]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP", "PYTHONINSPECT"):
        env.pop(name, None)
    return env


def _run(code: str, env: dict[str, str], extra: tuple[str, ...] = ()) -> tuple[list[float | None], float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *extra, "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"probe failed ({done.returncode}):\n{code}\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, done.stderr


def _heaviest(env: dict[str, str], top: int = 6) -> list[tuple[str, float]]:
    """The modules `app` imports directly, by cumulative import time (one `-X importtime` run).

    importtime prints children before their parent, indented two spaces per level.
    """
    _, _, stderr = _run(PROBES["app"], env, ("-X", "importtime"))
    children: list[tuple[str, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if depth == 1:
            children.append((name.strip(), int(cumulative) / 1e6))
        elif depth == 0:
            if name.strip() == "app":
                return sorted(children, key=lambda r: r[1], reverse=True)[:top]
            children = []
    return []


def measure(runs: int, progress: bool = True) -> ColdStart:
    env = _env()
    names = list(PROBES)
    for name in names:  # warm-up round: .pyc files, page cache
        _run(PROBES[name], env)
    samples = {name: Samples() for name in names}
    for i in range(runs):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            values, wall, _ = _run(PROBES[name], env)
            s = samples[name]
            s.walls.append(wall)
            if name == "first":
                s.stages.append(values[1:])
                s.imports.append(values[0] or 0.0)
            else:
                s.imports.append(values[0] or 0.0)
        if progress:
            print(f"  cold start: round {i + 1}/{runs}", file=sys.stderr, end="\r", flush=True)
    if progress:
        print(file=sys.stderr)
    return ColdStart(runs=runs, samples=samples, heaviest=_heaviest(env))
