"""Every shell example of README.md and docs/ runs verbatim against a fresh `make run`.

A block fenced ```sh or ```bash is a promise that pasting it into a terminal
(bash, in the project directory, beside a running `make run`) works. This test
starts a stack with the demo data on free ports, exports RELASI_API_PORT and
RELASI_AWS_PORT as a second terminal would, and runs the blocks in document
order, each in its own bash whose variables carry over to the next (TOKEN,
API, CID...), as one terminal's would. A block fails the test when it exits
non-zero or its output lacks what the text around it promises (EXPECTED).
Not run: README's first block (`make run`/`make test` themselves), and a block
that needs the AWS CLI when it is not installed (it is optional). Cloud-only
commands (deploying, invoking a deployed function) are fenced as plain text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack_process import RunningStack, start_stack, stop_stack_cleanly

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(sh|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)
BLOCK_TIMEOUT_S = 300

# A distinctive piece of a block -> what its output must hold (the text around the block promises it).
EXPECTED: dict[str, list[str]] = {
    'TOKEN=$(make -s token AS=agent.jakarta)': ['"items"', "HTTP/1.1 201", "Location: /customers/", '"phone":"+62'],
    "analytics/satisfaction?by=staff": ['"by":"staff"', '"complaints_resolved":', '"name":"agent.jakarta"'],
    "-X PATCH": ["HTTP/1.1 200", '"city":"Bekasi"', 'ETag: "v2"'],
    "cognito-idp list-user-pools": ['"Items"', '"Name": "relasi-dev"', "relasi-dev-exports-"],
    'describe_table(TableName="relasi-dev")': [],
    "ADMIN=$(make -s token AS=admin)": ['"growing":[{', '"category":"quality_control"', '"no_contact_',
                                        '"metric":"interactions"', '"status":"closed"', '"mape_moving_average":',
                                        '"cost_coverage":'],
    "make -s time-scale SCALE=3600": ["time scale: 3600", "received your complaint", "L1", "time scale: 1"],
    "make trigger JOB=analytics-export": ["segment", "customers"],
    "make -s trigger JOB=daily-reminders": ['"reminders_due":', "Selamat ulang tahun", "jatuh tempo"],
}
SKIPPED = {"make run     # creates .venv": "make run and make test themselves"}


def examples() -> list[tuple[str, str]]:
    """(where, the block's text) for every shell block, in document order."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{document.relative_to(ROOT)}:{line}", match.group(2)))
    return found


def _skip_reason(block: str) -> str | None:
    for marker, why in SKIPPED.items():
        if marker in block:
            return why
    if re.search(r"^\s*aws ", block, re.MULTILINE) and shutil.which("aws") is None:
        return "the AWS CLI is not installed (it is optional)"
    return None


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    running = start_stack()
    yield running
    stop_stack_cleanly(running)


def test_every_documented_block_is_known_here() -> None:
    """A new example gets a promise in EXPECTED (or an empty list) so that its output is looked at."""
    unknown = [where for where, block in examples()
               if _skip_reason(block) is None and not any(key in block for key in EXPECTED)]
    assert unknown == []
    assert all(any(key in block for _, block in examples()) for key in EXPECTED)  # none is stale


def test_every_shell_example_runs_verbatim_beside_a_fresh_stack(stack: RunningStack, tmp_path: Path) -> None:
    state = tmp_path / "terminal.env"
    state.write_text("")
    env = {**stack.env, "RELASI_API_PORT": str(stack.api_port), "RELASI_AWS_PORT": str(stack.aws_port)}
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a terminal's make, not the suite's: `make test ARGS=...`
        env.pop(name, None)  # would hand its ARGS to the examples' `make token` and `make time-scale`
    failures, ran = [], 0
    for where, block in examples():
        if _skip_reason(block) is not None:
            continue
        # -e and pipefail: a failing command fails the block (a person would see its error and stop there)
        script = f"set -a -e -o pipefail\nsource {state}\n{block}\nexport -p > {state}\n"
        done = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_S, check=False)
        ran += 1
        output = done.stdout + done.stderr
        promised = next(wanted for key, wanted in EXPECTED.items() if key in block)
        missing = [w for w in promised if w not in output]
        if done.returncode != 0 or missing:
            failures.append(f"{where}: exit {done.returncode}, missing {missing}\n{output[-3000:]}")
    assert ran >= 4
    assert not failures, "\n\n".join(failures)
