"""The local stack behind `make run`: moto on one port, the real Chalice app on another.

In one process: moto in server mode (127.0.0.1:RELASI_AWS_PORT), the
resources of infra/template.yaml provisioned into it, the Cognito pool with
demo users, demo data (SEED=none skips it), and the Chalice app served on
127.0.0.1:RELASI_API_PORT; the stream pump (infra/pump.py) delivers the
table's stream to app.on_table_change, and moto's port also serves the
outbox (infra/outbox.py, `make outbox`); the scheduler (infra/scheduler.py)
fires app.py's `@app.schedule` handlers on their cron/rate and serves
`POST /_relasi/trigger` on moto's port (`make trigger`), and moto's port runs
the handler of an asynchronous Lambda Invoke of one of those functions (e.g.
relasi-dev-analytics-export, which POST /analytics/exports invokes) in the
stack's process. Prints a line containing `ready`
once the API answers and the pump has handled the demo data, runs until
Ctrl-C, and exits non-zero if a port is taken.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
REGION = "ap-southeast-3"
PUMP_CATCH_UP_S = 60.0  # how long `make run` lets the stream pump handle the demo data before `ready`
STOP_REPORT_AFTER_S = 30.0  # the stops are bounded (10 s, scheduler and pump at once); past this, a defect
SIGNAL_CHECK_S = 0.5  # the main thread wakes this often to run a pending SIGINT/SIGTERM handler


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def aws_environment(aws_port: int) -> dict[str, str]:
    """Point every SDK in this process at moto, with throw-away credentials."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "MOTO_PORT": str(aws_port),
        # the pool's and client's ids follow from their names, so a token outlives a restart (infra/local_state.py)
        "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
        "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
    }


def start_moto(aws_port: int) -> Any:
    import logging

    from moto.server import ThreadedMotoServer

    from infra import moto_sfn, moto_speedups, outbox, scheduler, sms_v2, time_scale

    moto_speedups.install()
    moto_speedups.install_fast_reads(copy_scanned=True)  # a Query or Scan page no longer costs the whole table
    moto_sfn.install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call is noise here
    # + GET /_relasi/outbox on the same port, for `make outbox` (infra/outbox.py),
    # + POST /_relasi/trigger, for `make trigger` (infra/scheduler.py; answers 503 until start_scheduler())
    # + Lambda Invoke (InvocationType=Event) of the app's scheduled functions (infra/scheduler.py; once register_jobs())
    # + GET/POST /_relasi/time-scale, for `make time-scale` (infra/time_scale.py)
    # + End User Messaging SMS's SendTextMessage, which moto lacks (infra/sms_v2.py)
    server = outbox.with_outbox(ThreadedMotoServer, scheduler.middleware, scheduler.invoke_middleware,
                                time_scale.middleware, sms_v2.middleware)(
        ip_address="127.0.0.1", port=aws_port, verbose=False)
    server.start()
    # Before anything creates a state machine: only those made afterwards execute.
    moto_sfn.enable_execution(aws_port)
    return server


def chalice_config(stage: str = "dev") -> Any:
    from chalice.cli.factory import CLIFactory

    return CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name=stage)


def prepare(aws_port: int, *, seed: bool, state: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:
    """Start moto, provision, create demo users and data; returns (moto server, app environment).

    `state`: what an earlier stack saved (infra/local_state.py), put back instead of new demo data."""
    os.environ.update(aws_environment(aws_port))
    server = start_moto(aws_port)
    from infra import demo, local_state, provision

    if state is not None:
        local_state.restore_secrets(state)
    env = provision.provision()
    config = chalice_config()
    for key, value in config.environment_variables.items():
        os.environ.setdefault(key, value)
    os.environ.update(env)
    from chalicelib.config import settings

    settings.cache_clear()
    # from here on, each function's AWS calls run under its packaged IAM policy (infra/iam_local.py)
    from infra import iam_local

    iam_local.install(env, REGION)
    register_jobs()
    import app as app_module
    from infra import sns_delivery

    sns_delivery.install(app_module, env["STAGE"])  # a publish to the inbound SMS topic reaches its handler
    from infra import receipts

    receipts.install(env["STAGE"], REGION)  # and the sending services' events, simulated, reach theirs
    demo.create_users(env["USER_POOL_ID"])
    if state is not None:
        restored = local_state.restore(state)
        print(f"state: {restored} items back as saved at {state['saved_at'][:19]} UTC "
              "(`make reset` starts afresh)", flush=True)
    elif seed:
        from infra.seed import seed as load_demo_data

        made = load_demo_data()
        print(f"seeded {made} demo customers with 18 months of history", flush=True)
    return server, env


def _export_yesterday(jobs: Any) -> None:
    """Yesterday's analytics export, a full run as POST /analytics/exports asks for (the export function, invoked):
    churn risk, insights, anomalies and every snapshot dataset have the demo history to show from the first minute."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from chalicelib.config import settings
    from chalicelib.domain.clock import new_id
    from chalicelib.workflows.analytics import request_event

    yesterday = datetime.now(ZoneInfo(settings().timezone)).date() - timedelta(days=1)
    try:
        outcome = jobs.invoke("analytics-export", request_event(yesterday, new_id(), "api"))
    except Exception as exc:  # noqa: BLE001 - the stack runs without it; the log file has the details
        print(f"note: the first analytics export failed ({type(exc).__name__}); `make trigger "
              f"JOB=analytics-export DATE={yesterday}` runs it again", flush=True)
        return
    print(f"analytics: {yesterday} exported ({outcome.get('status')}) for the analyses", flush=True)


def serve_api(api_port: int) -> Any:
    from app import app
    from infra.gateway import local_server
    from infra.throttle import CallerThrottle

    # the per-caller limits of the deployed API (infra/template.yaml ApiWebAcl), enforced as WAF would;
    # RELASI_THROTTLE=off lifts them (load and fuzz tests send far more than one person would)
    throttle = None if os.environ.get("RELASI_THROTTLE", "").lower() == "off" else CallerThrottle.from_template()
    server = local_server(app, chalice_config(), "127.0.0.1", api_port, throttle=throttle)
    thread = threading.Thread(target=server.server.serve_forever, name="relasi-api", daemon=True)
    thread.start()
    return server


def start_pump(handler: Any = None, **options: Any) -> Any:
    """Start the stream pump (infra/pump.py) on the table's stream; returns it, or None without a handler.

    `handler` defaults to app.py's stream handler (`on_table_change`); any
    callable taking (event, context) will do. `options` go to StreamPump
    (table_name, batch_size, max_attempts, poll_interval_s, ...). The caller
    stops it (`pump.stop()`).
    """
    if handler is None:
        import app as app_module

        handler = getattr(app_module, "on_table_change", None)
        if handler is None:
            return None
    from infra.pump import StreamPump

    return StreamPump(handler, **options).start()


def register_jobs() -> Any:
    """app.py's `@app.schedule` jobs, without the clock thread, for the Lambda Invoke route on moto's port
    (infra/scheduler.py invoke_middleware: an asynchronous invocation of relasi-<stage>-<job> runs the job's handler
    here); start_scheduler() adds the clock. Returns that scheduler."""
    from app import app
    from infra import scheduler

    standby = scheduler.Scheduler.for_app(app)
    scheduler.ROUTE.standby = standby
    return standby


def start_scheduler(**options: Any) -> Any:
    """Start the scheduler (infra/scheduler.py) on app.py's `@app.schedule` handlers and serve it on the trigger
    route; returns it. `options` go to Scheduler. The caller stops it (`stop_scheduler(s)`)."""
    from app import app
    from infra import scheduler

    running = scheduler.Scheduler.for_app(app, **options).start()
    scheduler.ROUTE.scheduler = running
    return running


def stop_scheduler(running: Any) -> None:
    from infra import scheduler

    if scheduler.ROUTE.scheduler is running:
        scheduler.ROUTE.scheduler = None
    running.stop()


def wait_until_up(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    from infra.ports import api_port, aws_port

    parser = argparse.ArgumentParser(
        prog="make run",
        description="Run Relasi locally: moto (embedded AWS) plus the Chalice API, with demo users and data.",
        epilog="Environment: RELASI_API_PORT (default 8000), RELASI_AWS_PORT (default 4566), "
        "SEED=none to start without demo customers.",
    )
    parser.add_argument("--api-port", type=int, default=api_port(), help="the API's port (default: %(default)s)")
    parser.add_argument("--aws-port", type=int, default=aws_port(),
                        help="moto's port, the local AWS endpoint (default: %(default)s)")
    parser.add_argument("--no-seed", action="store_true", default=os.environ.get("SEED", "").lower() == "none",
                        help="on a fresh start, no demo customers (SEED=none)")
    args = parser.parse_args(argv)
    from infra import local_state

    kept = local_state.state_dir()

    if args.api_port == args.aws_port:
        print(f"error: RELASI_API_PORT and RELASI_AWS_PORT are both {args.api_port}; pick two ports", file=sys.stderr)
        return 2
    for name, port in (("RELASI_AWS_PORT", args.aws_port), ("RELASI_API_PORT", args.api_port)):
        if not port_free(port):
            print(f"error: port {port} on 127.0.0.1 is already in use; free it or set {name}=<port>", file=sys.stderr)
            return 2
    saved = None
    if kept is not None:
        try:
            local_state.lock(kept)
        except local_state.StateInUse as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        saved = local_state.load(kept)
        where = kept.relative_to(PROJECT_DIR) if kept.is_relative_to(PROJECT_DIR) else kept
        print(f"state: {'restoring what ' + str(where) + ' kept' if saved else 'a fresh start'}; saved in {where} "
              "when the stack stops (RELASI_STATE_DIR; `make reset` starts afresh)", flush=True)

    from infra import console

    log = console.install()
    shown = log.relative_to(console.PROJECT_DIR) if log.is_relative_to(console.PROJECT_DIR) else log
    print(f"logs: every structured line goes to {shown}; here, one line per request and per event", flush=True)

    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt  # stop like Ctrl-C, even while seeding

    # Both explicitly: a shell that starts us in the background hands SIGINT
    # over as ignored, and Python then never turns it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stack that will not stop is doing
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = threading.Event()
    moto = None
    api = None
    pump = None
    jobs = None
    # Opt-out links in campaign messages (the outbox) open this stack's own page.
    os.environ.setdefault("LINK_BASE", f"http://127.0.0.1:{args.api_port}")
    try:
        moto, env = prepare(args.aws_port, seed=not args.no_seed, state=saved)
        api = serve_api(args.api_port)
        base = f"http://127.0.0.1:{args.api_port}"
        wait_until_up(f"{base}/health")
        pump = start_pump()
        if pump is None:
            print("note: app.py has no stream handler (on_table_change): table changes reach nothing", flush=True)
        else:
            started = time.monotonic()
            try:  # `ready` then means: every change made so far (the demo data) has been handled
                pump.drain(PUMP_CATCH_UP_S)
                print(f"stream pump: {pump.stats.records} table changes handled in "
                      f"{time.monotonic() - started:.1f} s", flush=True)
            except TimeoutError:
                print(f"note: the stream pump is still catching up after {PUMP_CATCH_UP_S:.0f} s", flush=True)
        if saved is None and not args.no_seed:  # once the consumer has the demo contacts in the engagement items
            from infra import scheduler

            _export_yesterday(scheduler.ROUTE.standby)
        if saved is not None:
            print(f"escalations: {local_state.resume_escalations()} open complaints watched again", flush=True)
        jobs = start_scheduler()
        if not jobs.jobs:
            print("note: app.py has no @app.schedule handlers: nothing fires on a clock", flush=True)
        else:
            print("scheduler: " + ", ".join(f"{job['name']} {job['schedule']} "
                                            + (f"next {job['next_fire']}" if job["next_fire"] else "(on demand)")
                                            for job in jobs.describe()) + "  (`make trigger JOB=... DATE=...` "
                  "fires one now)", flush=True)
        print(f"Relasi ready: API {base}  AWS (moto) http://127.0.0.1:{args.aws_port}  "
              f"user pool {env['USER_POOL_ID']}  table {env['TABLE_NAME']}  (Ctrl-C stops)", flush=True)
        # Not one blocking wait: the kernel may hand SIGINT to any thread, and Python then only sets a flag that
        # the main thread reads when it runs; a main thread asleep in an untimed wait never would (this is what
        # kept a stack from stopping on Ctrl-C within 60 s, once in CI and once in 5 runs under load).
        while not stop.wait(SIGNAL_CHECK_S):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        # A stop that takes this long is a defect: the stack of every thread then goes to stderr.
        faulthandler.dump_traceback_later(STOP_REPORT_AFTER_S)
        # The scheduler and the pump each finish what they hold (bounded): both at once, so Ctrl-C
        # takes the longer of the two, not their sum (a loaded machine made the sum pass 30 s).
        stoppers = [threading.Thread(target=stop) for stop in (
            (lambda: stop_scheduler(jobs)) if jobs is not None else None,
            pump.stop if pump is not None else None,
        ) if stop is not None]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        if api is not None:
            api.server.shutdown()
            api.server.server_close()
        if moto is not None:
            if kept is not None and jobs is not None:  # a stack that never got ready keeps the last state saved
                _save(kept)
            moto.stop()
        if kept is not None:
            local_state.unlock(kept)
        faulthandler.cancel_dump_traceback_later()
    print("Relasi stopped", flush=True)
    return 0


def _save(directory: Path) -> None:
    from infra import local_state

    try:
        items = local_state.save(directory)
    except Exception as exc:  # noqa: BLE001 - the stop goes on; the previous state stays as it was
        print(f"note: the state could not be saved ({type(exc).__name__}: {exc}); {directory} keeps the "
              "previous one", flush=True)
        return
    print(f"state: {items} items saved in {directory}", flush=True)


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown. Everything the stack holds is in memory and its parts
    have stopped; what is left are daemon threads (moto's Step Functions keep one per waiting execution),
    which nothing needs. Once in CI a stack did not exit within 60 s of Ctrl-C without saying where it
    was; the stops now report themselves (STOP_REPORT_AFTER_S), and the teardown cannot stall at all."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
