"""`make time-scale SCALE=3600`: change how much faster a running local stack's workflows wait, without a restart.

RELASI_TIME_SCALE=N (default 1) makes the workflows wait N times shorter
(3600: an hour of SLA takes a second); SLAs and stored due times stay real. The
stack serves it on moto's port: `GET /_relasi/time-scale` answers
{"scale": N}, `POST` with {"scale": N} changes it (1 to 86400). Executions
already started keep the waits they were started with; what starts from now
on waits by the new scale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from infra import ports

PATH = "/_relasi/time-scale"
MAX_SCALE = 86400.0  # a day in a second


def current() -> float:
    from chalicelib.config import settings

    return float(settings().time_scale)


def change(scale: float) -> None:
    """Set the scale for what starts from now on (the process's RELASI_TIME_SCALE; settings read again)."""
    from chalicelib.config import settings

    os.environ["RELASI_TIME_SCALE"] = repr(scale)
    settings.cache_clear()


def middleware(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware for the moto server: answers PATH itself, passes everything else to moto."""

    def answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> Iterable[bytes]:
        raw = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
        return [raw]

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            return app(environ, start_response)
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            return answer(start_response, "200 OK", {"scale": current()})
        if method != "POST":
            return answer(start_response, "405 Method Not Allowed", {"error": "GET or POST"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            scale = float(json.loads(environ["wsgi.input"].read(length) or b"{}")["scale"])
            if not 1 <= scale <= MAX_SCALE:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return answer(start_response, "400 Bad Request",
                          {"error": f'send {{"scale": N}} with N from 1 to {MAX_SCALE:.0f}'})
        change(scale)
        return answer(start_response, "200 OK", {"scale": current()})

    return wrapped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make time-scale", description=__doc__.splitlines()[0])
    parser.add_argument("scale", nargs="?", default="", help="N: workflows wait N times shorter (empty: show it)")
    parser.add_argument("--aws-port", type=int, default=ports.aws_port(), help="moto's port (default: %(default)s)")
    args = parser.parse_args(argv)
    url = f"http://127.0.0.1:{args.aws_port}{PATH}"
    data = json.dumps({"scale": args.scale}).encode() if args.scale else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",  # noqa: S310 - loopback
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            print(f"time scale: {json.load(response)['scale']:g}")
            return 0
    except urllib.error.HTTPError as exc:
        print(f"error: {json.load(exc).get('error', exc.code)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: no local stack answers on 127.0.0.1:{args.aws_port} ({getattr(exc, 'reason', exc)}); "
              "start it with `make run` or set RELASI_AWS_PORT", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
