"""Build the deployable CloudFormation for Relasi (`make package`).

Runs `chalice package --stage prod --merge-template infra/template.yaml
build/package` from the project directory: Chalice's functions, roles and
API merged with this repository's resources (tables, Cognito, topic, bucket,
Glue catalog, alarms, dashboard, gateway responses) into one SAM template,
build/package/sam.yaml (YAML because the merge template is YAML), next to
deployment.zip, the Lambda bundle of app.py, chalicelib/ and requirements.txt.

State machine definitions and Glue table columns are not copied into
infra/template.yaml: each state machine names its ASL file
(Metadata.DefinitionFile) and each Glue table its export dataset
(Metadata.RelasiDataset), and the template handed to Chalice is
infra/template.yaml with those files written into DefinitionString
(infra/state_machines.py) and the datasets' columns from
chalicelib.domain.exports.DATASETS written into
TableInput.StorageDescriptor.Columns (infra/glue_tables.py), so the ASL
file and DATASETS stay the one source.

Works offline from AWS: Chalice only needs a region and some credentials to
start, so ap-southeast-3 and dummy credentials are used when none are set. It
does download Lambda-platform (manylinux) wheels from the package index.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from infra.glue_tables import with_columns
from infra.state_machines import with_definitions

PROJECT_DIR = Path(__file__).resolve().parent.parent
TEMPLATE = PROJECT_DIR / "infra" / "template.yaml"
OUT_DIR = PROJECT_DIR / "build" / "package"
REGION = "ap-southeast-3"
# The venv's Chalice, whatever PATH says (the chalice package has no __main__).
_CHALICE = [sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())"]


def chalice_environment(base: dict[str, str] | None = None, stage: str = "prod") -> dict[str, str]:
    """The environment for `chalice package`: a region, and dummy credentials if none are configured."""
    env = dict(os.environ if base is None else base)
    if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        env["AWS_DEFAULT_REGION"] = REGION
    if not (env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE")):
        env["AWS_ACCESS_KEY_ID"] = "packaging-only"
        env["AWS_SECRET_ACCESS_KEY"] = "packaging-only"
    env.pop("AWS_ENDPOINT_URL", None)  # a local-stack shell must not leak into packaging
    # app.py names the inbound-SMS topic it subscribes to from this (InboundSmsTopic in the template)
    env["INBOUND_SMS_TOPIC"] = f"relasi-{stage}-inbound-sms"
    env["MESSAGE_EVENTS_TOPIC"] = f"relasi-{stage}-message-events"  # MessageEventsTopic, likewise
    return env


def merge_template(directory: Path) -> Path:
    """infra/template.yaml with the state machines' ASL files and the Glue tables' columns written in, as
    `directory`/template.yaml."""
    template = with_columns(with_definitions(yaml.safe_load(TEMPLATE.read_text())))
    path = directory / TEMPLATE.name  # .yaml: Chalice writes its output in the merge template's format
    path.write_text(yaml.safe_dump(template, sort_keys=False, width=1000))
    return path


def package(stage: str = "prod", out_dir: Path = OUT_DIR) -> Path:
    """Clean `out_dir`, run `chalice package` into it; returns the template's path. One `chalice package` at a
    time on this checkout (it keeps its zip cache in .chalice/deployments; `make test`'s workers and the stacks
    they start may package at once)."""
    import fcntl

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = PROJECT_DIR / "build" / "chalice-package.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock, tempfile.TemporaryDirectory(prefix="relasi-package-") as work:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command = [
            *_CHALICE,
            "--project-dir", str(PROJECT_DIR),
            "package",
            "--stage", stage,
            "--merge-template", str(merge_template(Path(work))),
            str(out_dir),
        ]
        subprocess.run(command, cwd=PROJECT_DIR, env=chalice_environment(stage=stage), check=True)
    return out_dir / "sam.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.package",
        description=(
            "Build the deployable CloudFormation (SAM) template: `chalice package --stage STAGE "
            "--merge-template infra/template.yaml build/package`, the merge template completed with the state "
            "machines' ASL files (Metadata.DefinitionFile) and the Glue tables' columns from "
            "chalicelib.domain.exports.DATASETS (Metadata.RelasiDataset). Removes build/package first and "
            "writes build/package/sam.yaml and build/package/deployment.zip. Uses region "
            f"{REGION} and dummy AWS credentials when none are set (nothing is sent to AWS; "
            "Lambda-platform wheels are downloaded from the package index)."
        ),
        epilog=(
            "Deploy with the AWS CLI: aws cloudformation package --template-file build/package/sam.yaml "
            "--s3-bucket <artifact bucket> --output-template-file build/package/packaged.yaml, then "
            "aws cloudformation deploy --template-file build/package/packaged.yaml --stack-name relasi-<stage> "
            "--parameter-overrides Stage=<stage> --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND. "
            "Keep the stack name starting with 'relasi-': the functions' log permissions are scoped to "
            "/aws/lambda/relasi-*."
        ),
    )
    parser.add_argument("--stage", default="prod", choices=("prod", "dev"), help="Chalice stage to package (default: prod)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        template = package(args.stage)
    except subprocess.CalledProcessError as exc:
        print(f"error: chalice package failed (exit {exc.returncode})", file=sys.stderr)
        return exc.returncode or 1
    elapsed = time.monotonic() - started
    rel = template.relative_to(PROJECT_DIR)
    print(f"Packaged stage {args.stage} in {elapsed:.0f} s:")
    print(f"  template  {rel}")
    print(f"  bundle    {(template.parent / 'deployment.zip').relative_to(PROJECT_DIR)}")
    print(f"Deploy as stack relasi-{args.stage} with Stage={args.stage} (see --help).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
