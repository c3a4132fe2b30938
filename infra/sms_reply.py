"""`make sms-reply FROM=<phone> TEXT=<text>`: a customer's SMS reply to our number, on a running local stack.

Publishes to the stack's inbound SMS topic (relasi-<stage>-inbound-sms) what
AWS's SMS service publishes for a reply (two-way SMS JSON: originationNumber,
destinationNumber, messageKeyword, messageBody, inboundMessageId), so the
stack's inbound SMS function handles it as in the cloud: STOP, BERHENTI or
UNSUBSCRIBE opt the number out of every SMS, START or MULAI opt it back in,
anything else is ignored (the stack's terminal shows the outcome). Indonesian
handsets cannot reply to business SMS: in production this path serves numbers
abroad; Indonesian customers opt out by the link or the call centre.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

from infra import ports

OUR_NUMBER = "+6281100000000"  # the local stack's pretend long code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sms-reply", description=__doc__.splitlines()[0])
    parser.add_argument("sender", metavar="FROM", help="the customer's number, e.g. +6281234567890 or 0812-3456-7890")
    parser.add_argument("text", metavar="TEXT", help="the reply, e.g. STOP, BERHENTI, START, MULAI")
    parser.add_argument("--aws-port", type=int, default=ports.aws_port(), help="moto's port (default: %(default)s)")
    parser.add_argument("--stage", default=os.environ.get("STAGE", "dev"), help="the stack's stage (default: dev)")
    args = parser.parse_args(argv)
    if not args.sender.strip() or not args.text.strip():
        print("error: say who replies and what: make sms-reply FROM=+6281234567890 TEXT=STOP", file=sys.stderr)
        return 2
    from infra.local_stack import aws_environment

    os.environ.update(aws_environment(args.aws_port))
    import boto3

    sns = boto3.client("sns")
    body = {"originationNumber": args.sender.strip(), "destinationNumber": OUR_NUMBER,
            "messageKeyword": args.text.strip().split()[0].upper(), "messageBody": args.text,
            "inboundMessageId": str(uuid.uuid4()), "previousPublishedMessageId": ""}
    try:
        topic = next(t["TopicArn"] for t in sns.list_topics()["Topics"]
                     if t["TopicArn"].endswith(f":relasi-{args.stage}-inbound-sms"))
        sns.publish(TopicArn=topic, Message=json.dumps(body))
    except StopIteration:
        print(f"error: the stack on RELASI_AWS_PORT={args.aws_port} has no relasi-{args.stage}-inbound-sms topic",
              file=sys.stderr)
        return 1
    except Exception as exc:  # connection refused: say what to do
        print(f"error: cannot reach a local stack ({type(exc).__name__}); is `make run` running on "
              f"RELASI_AWS_PORT={args.aws_port}?", file=sys.stderr)
        return 1
    print(f"published to {topic.rsplit(':', 1)[-1]}; the stack's inbound SMS function handles it "
          "(its terminal shows the outcome: opted_out, opted_in or ignored)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
