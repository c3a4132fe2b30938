"""Print a valid Cognito ID token for a demo user of a running local stack.

Usage: make token AS=<username>   (or USER=<username> on make's command line; honours RELASI_AWS_PORT, like make run)
"""

from __future__ import annotations

import argparse
import os
import sys

from infra.demo import USERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make token", description=__doc__.splitlines()[0])
    parser.add_argument("user", help="one of: " + ", ".join(USERS))
    args = parser.parse_args(argv)
    if not args.user:
        print(f"error: say which demo user: make token AS=<user>, one of: {', '.join(USERS)}", file=sys.stderr)
        return 2
    if args.user not in USERS:
        print(f"error: unknown demo user {args.user!r}; use one of: {', '.join(USERS)}", file=sys.stderr)
        return 2
    from infra.local_stack import aws_environment
    from infra.ports import aws_port

    os.environ.update(aws_environment(aws_port()))
    from infra.demo import find_pool, id_token

    try:
        pool_id, client_id = find_pool()
        print(id_token(args.user, pool_id, client_id))
    except Exception as exc:  # connection refused, no pool: say what to do
        print(f"error: cannot get a token ({type(exc).__name__}); is `make run` running on "
              f"RELASI_AWS_PORT={os.environ.get('RELASI_AWS_PORT', '4566')}?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
