"""moto's Step Functions engine for the local stack: switched on, and two deviations from AWS corrected.

`enable_execution(port)` makes moto run state machines (ASL) for real:
`POST /moto-api/config {"stepfunctions": {"execute_state_machine": true}}`.
The engine's own service calls go to `localhost:$MOTO_PORT` (set by
infra/local_stack.aws_environment). Call it before creating state machines:
moto keeps executable ones in a separate backend, so a state machine created
before (or by moto's CloudFormation) cannot be executed.

`install()` patches moto in this process (idempotent; a moto whose internals
differ is left alone):

- A Wait on a timestamp (`Timestamp`/`TimestampPath`) compares the UTC
  timestamp with the *local* wall clock (`datetime.now()`), so east of UTC
  (Asia/Jakarta, +7 h) every wait ends at once and west of UTC it waits hours
  too long. Here it is compared with the UTC clock, to the millisecond, and
  rounded up: like AWS, a wait never ends before its timestamp (moto
  truncates to the second, waking up to a second early).
- `$$.State.EnteredTime` is Python's `isoformat()` (`+00:00`, microseconds);
  AWS writes `2026-11-23T14:58:23.123Z`, the form the project stores.
- StopExecution of an execution whose worker thread has not built its
  environment yet answers 500 (`'NoneType' object has no attribute
  'set_stop'`), and one that arrives before the program runs is silently
  ignored; and a Wait state that starts waiting just after a stop misses it
  (moto sets and at once clears the event it waits on) and sleeps its whole
  time. Races AWS does not have (a busy machine loses them often). Here the
  stop waits until the program runs (at most STOP_WAIT_FOR_WORKER_S), and a
  Wait looks at the program's state before and every WAIT_SLICE_S while waiting.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

_installed = False
STOP_WAIT_FOR_WORKER_S = 30.0
WAIT_SLICE_S = 0.05


def enable_execution(aws_port: int) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{aws_port}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _aws_time(value: str) -> str:
    from chalicelib.domain.clock import iso

    try:
        return iso(datetime.fromisoformat(value))
    except ValueError:
        return value


def install() -> bool:
    """Patch moto's Step Functions engine in this process; returns whether the patches apply."""
    global _installed
    if _installed:
        return True
    try:
        from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
        from moto.stepfunctions.parser.asl.component.state import state as state_module
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp import Timestamp
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    except ImportError:
        return False
    state_data = getattr(state_module, "StateData", None)
    if state_data is None or not hasattr(Timestamp, "_get_wait_seconds") or not hasattr(Timestamp, "_from_timestamp_string"):
        return False
    if not hasattr(ExecutionWorker, "stop") or not hasattr(WaitFunction, "_wait_interval"):
        return False
    moto_stop = ExecutionWorker.stop

    def _get_wait_seconds(self: Any, env: Any) -> int:
        self.string.eval(env=env)
        text = env.stack.pop()
        whole_seconds = self._from_timestamp_string(timestamp=text)  # validates; naive, fraction dropped
        if whole_seconds is None:
            raise FailureEventException(self._create_failure_event(env, text))
        try:
            timestamp = datetime.fromisoformat(text)
        except ValueError:
            timestamp = whole_seconds.replace(tzinfo=UTC)
        return max(0, math.ceil((timestamp - datetime.now(UTC)).total_seconds()))

    def aws_state_data(**fields: Any) -> Any:
        if isinstance(fields.get("EnteredTime"), str):
            fields["EnteredTime"] = _aws_time(fields["EnteredTime"])
        return state_data(**fields)

    def stop_once_started(self: Any, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + STOP_WAIT_FOR_WORKER_S
        # Until the program runs, moto's set_stop is a no-op (and before the environment exists, a 500).
        while getattr(getattr(self, "env", None), "_program_state", None) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return moto_stop(self, *args, **kwargs)

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        deadline = time.monotonic() + wait_seconds
        while env.is_running():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            env.program_state_event.wait(min(left, WAIT_SLICE_S))

    Timestamp._get_wait_seconds = _get_wait_seconds  # type: ignore[method-assign]
    WaitFunction._wait_interval = _wait_interval  # type: ignore[method-assign]
    ExecutionWorker.stop = stop_once_started  # type: ignore[method-assign]
    state_module.StateData = aws_state_data  # type: ignore[assignment,misc]
    _installed = True
    return True
