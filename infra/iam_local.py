"""The local stack runs each function as it would be deployed: its packaged IAM policy enforced, its packaged
environment checked.

`chalice package --stage dev` (infra/package.py, cached under build/local-package/ until its inputs change)
gives, for every function, its handler, its role's policies (Chalice's inline policy from
.chalice/policy-*.json and the template's AWS::IAM::Policy resources attached to the role, their
Fn::Sub/Ref resolved with the local stack's values) and its environment variables. `install()` then:

- runs each handler the local stack calls (the API through infra/gateway.py, the authorizer, the
  stream consumer through infra/pump.py, the schedules and asynchronous invocations through
  infra/scheduler.py, and any `app.handler_map` entry) as that function (`FUNCTION`, a context
  variable that threads started inside a function inherit), and each state machine execution of
  moto's engine as its state machine (its role's policies: the service integrations' calls);
- checks every AWS call made as a function, before it leaves the process, against that function's
  policies with a real IAM evaluator (@cloud-copilot/iam-simulate, infra/iam_simulate.mjs: `?` and
  `*` in ARNs, every condition operator, dynamodb:LeadingKeys, s3:prefix), and answers a call the
  policies do not allow with AccessDenied(Exception), as AWS would;
- fails a read of a setting (chalicelib/config.py) whose environment variable the function's
  packaged environment lacks (MissingSetting), instead of its silent default.

Why not moto's own IAM (INITIAL_NO_AUTH_ACTION_COUNT): it matches actions and resources with `*`
only (the secrets' `-??????` suffix would not match), does not evaluate conditions, and needs one set
of credentials per function, while the local stack runs every function in one process.

`unused()` and `unread_variables()` report which permissions no checked call used and which
packaged variables no code read (tests/conftest.py prints them at the end of `make test`). Calls
made outside any function (the test harness, provisioning, the seed) are not checked. Needs Node
and `npm ci` (the Makefile runs it); without them the local stack runs unchecked and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import subprocess
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
EVALUATOR = PROJECT_DIR / "infra" / "iam_simulate.mjs"
SIMULATOR_PACKAGE = PROJECT_DIR / "node_modules" / "@cloud-copilot" / "iam-simulate"
PACKAGE_DIR = PROJECT_DIR / "build" / "local-package"
ACCOUNT = "123456789012"  # moto's account
STAGE = "dev"
# What `chalice package` reads: a change to any of these packages again.
PACKAGE_INPUTS = ("app.py", "requirements.txt", ".chalice/config.json", ".chalice/policy-*.json",
                  "infra/template.yaml", "chalicelib/workflows/*.asl.json", "chalicelib/domain/exports.py")
# Settings with a default meant for every deployment (tuning, and the local stack's time scale): a function
# may leave them out of its environment.
OPTIONAL_SETTINGS = frozenset({"time_scale", "export_scan_segments"})

_log = logging.getLogger("relasi.iam")

FUNCTION: ContextVar[str | None] = ContextVar("relasi_function", default=None)


class AccessDenied(Exception):
    """What the SDK raises for a call its caller's policy does not allow (botocore.exceptions.ClientError)."""


class MissingSetting(RuntimeError):
    """A function read a setting its packaged environment does not give it."""


@dataclass
class Function:
    logical_id: str
    handler: str  # "app.<attribute>", or "states:<state machine name>"
    role: str  # the role's logical id
    policies: list[dict[str, Any]]  # [{"name": ..., "policy": {...}}], resolved
    environment: dict[str, str]
    condition_keys: frozenset[str] = frozenset()

    @property
    def principal(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/{self.role}"


# --- the packaged template ---------------------------------------------------------------------------------

def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for pattern in PACKAGE_INPUTS:
        for path in sorted(PROJECT_DIR.glob(pattern)):
            digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def packaged_template() -> dict[str, Any]:
    """`chalice package --stage dev`'s sam.yaml, packaged again only when an input changed (one process at a
    time: tests start several stacks)."""
    import yaml

    from infra.package import package

    PACKAGE_DIR.parent.mkdir(parents=True, exist_ok=True)
    digest = _inputs_digest()
    template, stamp = PACKAGE_DIR / "sam.yaml", PACKAGE_DIR / "inputs.sha256"
    with open(PACKAGE_DIR.parent / "local-package.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template.is_file() and stamp.is_file() and stamp.read_text() == digest):
            package(STAGE, out_dir=PACKAGE_DIR)
            stamp.write_text(digest)
        text = template.read_text()

    class _Loader(yaml.SafeLoader):
        pass

    def _tag(loader: Any, suffix: str, node: Any) -> Any:  # !Ref, !Sub, !GetAtt ... as {"Ref": ...} etc.
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            return {name: value.split(".", 1) if suffix == "GetAtt" else value}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node, deep=True)}
        return {name: loader.construct_mapping(node, deep=True)}

    _Loader.add_multi_constructor("!", _tag)
    return dict(yaml.load(text, Loader=_Loader))  # noqa: S506 (a SafeLoader subclass)


_SUB = re.compile(r"\$\{([^}]+)\}")


# The parameters the local stack deploys with, where not the template's defaults: the dev stage's own origins.
def _local_parameters() -> dict[str, str]:
    """Parameters the local stack takes from its shell, as a deployer would pass them."""
    found = {"CorsAllowedOrigins": os.environ.get("CORS_ALLOWED_ORIGINS", "")}
    if os.environ.get("QUIET_HOURS"):  # QUIET_HOURS=off make run: the QuietHours parameter set to off
        found["QuietHours"] = os.environ["QUIET_HOURS"]
    if os.environ.get("SURVEY_CAP_DAYS"):
        found["SurveyCapDays"] = os.environ["SURVEY_CAP_DAYS"]
    if os.environ.get("LINK_BASE"):  # make run: opt-out links to the local gateway
        found["LinkBase"] = os.environ["LINK_BASE"]
    return found


_NAME_PROPERTY = {"AWS::DynamoDB::Table": "TableName", "AWS::SNS::Topic": "TopicName", "AWS::SQS::Queue": "QueueName"}


def _resolver(template: dict[str, Any], region: str, values: dict[str, str]) -> Any:
    """Fn::Sub, Ref and Fn::GetAtt <resource>.Arn with the local stack's values: parameters (the defaults, and
    _local_parameters()), pseudo parameters, the names tables, topics and queues take from their own
    properties (moto's CloudFormation creates them with those names), and `values` (a Ref the local stack
    resolves through a variable the template sets from it, such as the user pool's id)."""
    resources = template.get("Resources", {})
    parameters = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
    parameters.update(_local_parameters())
    known = {**parameters, "Stage": STAGE, "AWS::Region": region, "AWS::AccountId": ACCOUNT,
             "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}

    def name_of(logical_id: str) -> tuple[str, str]:
        kind = resources.get(logical_id, {}).get("Type", "")
        if kind not in _NAME_PROPERTY or _NAME_PROPERTY[kind] not in resources[logical_id]["Properties"]:
            raise KeyError(f"cannot resolve {logical_id} locally")
        return kind, str(resolve(resources[logical_id]["Properties"][_NAME_PROPERTY[kind]]))

    def reference(logical_id: str) -> str:
        if logical_id in known:
            return known[logical_id]
        if logical_id in values:
            return values[logical_id]
        kind, name = name_of(logical_id)
        return {"AWS::SNS::Topic": f"arn:aws:sns:{region}:{ACCOUNT}:{name}",
                "AWS::SQS::Queue": f"http://127.0.0.1/{ACCOUNT}/{name}"}.get(kind, name)

    def attribute(logical_id: str, name: str) -> str:
        kind = resources.get(logical_id, {}).get("Type", "")
        if name == "Arn" and kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        if name == "Arn" and kind == "AWS::Cognito::UserPool":  # its id is what the local stack provisioned
            return f"arn:aws:cognito-idp:{region}:{ACCOUNT}:userpool/{reference(logical_id)}"
        if name == "Arn" and kind == "AWS::KMS::Key":  # keys have no name; no local call names one
            return f"arn:aws:kms:{region}:{ACCOUNT}:key/{logical_id}"
        if name == "Arn":
            kind, resource = name_of(logical_id)
            return {"AWS::DynamoDB::Table": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{resource}",
                    "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{ACCOUNT}:{resource}",
                    "AWS::SNS::Topic": f"arn:aws:sns:{region}:{ACCOUNT}:{resource}"}[kind]
        raise KeyError(f"cannot resolve {logical_id}.{name} locally")

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return reference(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            logical_id, name = target.split(".", 1) if isinstance(target, str) else target
            return attribute(logical_id, name)
        if set(value) == {"Fn::Sub"}:
            body, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            local = {k: str(resolve(v)) for k, v in variables.items()}

            def one(match: re.Match[str]) -> str:
                variable = match.group(1)
                if variable in local:
                    return local[variable]
                if "." in variable:
                    return attribute(*variable.split(".", 1))
                return str(reference(variable))

            return _SUB.sub(one, body)
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(resolve(p)) for p in parts)
        if len(value) == 1 and next(iter(value)).startswith("Fn::"):
            raise KeyError(f"cannot resolve {next(iter(value))} locally")
        return {k: resolve(v) for k, v in value.items()}

    return resolve


def _condition_keys(policies: list[dict[str, Any]]) -> frozenset[str]:
    keys: set[str] = set()
    for policy in policies:
        statements = policy["policy"].get("Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            for operator in (statement.get("Condition") or {}).values():
                keys |= {k.lower() for k in operator}
    return frozenset(keys)


def functions_of(template: dict[str, Any], region: str, environment: dict[str, str]) -> dict[str, Function]:
    """Every function of the packaged template by logical id, with its policies and environment resolved
    (Ref/Fn::Sub of a resource takes its value from `environment`, the local stack's provisioned names)."""
    resources = template["Resources"]
    # A Ref/GetAtt to a provisioned resource is resolved through the variable the template sets from it.
    values: dict[str, str] = {}
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for name, value in ((resource["Properties"].get("Environment") or {}).get("Variables") or {}).items():
            if isinstance(value, dict) and set(value) == {"Ref"} and name in environment:
                values[value["Ref"]] = environment[name]
    resolve = _resolver(template, region, values)
    attached: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::IAM::Policy":
            props = resource["Properties"]
            for role in props.get("Roles", []):
                attached[role["Ref"]].append({"name": props.get("PolicyName", name),
                                              "policy": resolve(props["PolicyDocument"])})

    def policies_of(role: str) -> list[dict[str, Any]]:
        inline = resources[role]["Properties"].get("Policies", [])
        return [{"name": p["PolicyName"], "policy": resolve(p["PolicyDocument"])} for p in inline] \
            + attached.get(role, [])

    functions: dict[str, Function] = {}
    for name, resource in resources.items():
        if resource.get("Type") == "AWS::StepFunctions::StateMachine":  # its service tasks run under its role
            props = resource["Properties"]
            role = props["RoleArn"]["Fn::GetAtt"][0]
            policies = policies_of(role)
            functions[name] = Function(name, f"states:{resolve(props['StateMachineName'])}", role, policies, {},
                                       _condition_keys(policies))
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        role_ref = props.get("Role")
        role = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) else str(role_ref)
        policies = policies_of(role)
        variables = (props.get("Environment") or {}).get("Variables") or {}
        env = {}
        for key, value in variables.items():
            try:
                env[key] = str(resolve(value))
            except KeyError:
                env[key] = environment.get(key, "")  # provisioned locally under the same variable
        functions[name] = Function(name, props["Handler"], role, policies, env, _condition_keys(policies))
    return functions


# --- AWS calls as IAM requests -----------------------------------------------------------------------------

_ACTIONS = {  # (IAM prefix, operation) -> action, where the action is not the operation's name
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject", ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "CreateMultipartUpload"): "s3:PutObject", ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject", ("s3", "HeadBucket"): "s3:ListBucket",
}
_ITEM_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                 "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _leading_keys(*keys: dict[str, Any] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    values = sorted({str(next(iter(k["pk"].values()))) for k in keys if k and "pk" in k})
    return (("dynamodb:LeadingKeys", tuple(values)),) if values else ()


def _query_leading_key(params: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if params.get("IndexName"):
        return ()
    match = re.search(r"(?:^|\(|\s)(#?\w+)\s*=\s*(:\w+)", params.get("KeyConditionExpression", ""))
    if not match:
        return ()
    name = (params.get("ExpressionAttributeNames") or {}).get(match.group(1), match.group(1))
    value = (params.get("ExpressionAttributeValues") or {}).get(match.group(2))
    return _leading_keys({name: value}) if name == "pk" and isinstance(value, dict) else ()


def requests_of(prefix: str, operation: str, params: dict[str, Any], region: str) -> list[Request]:
    """What IAM authorizes for one API call: (action, resource ARN, condition context) per resource touched."""
    arn = f"arn:aws:{prefix}:{region}:{ACCOUNT}"
    if prefix == "dynamodb":
        def table(name: str) -> str:
            return name if name.startswith("arn:") else f"{arn}:table/{name}"

        if operation in ("TransactWriteItems", "TransactGetItems"):
            found = []
            for entry in params.get("TransactItems", []):
                (kind, item), = entry.items()
                found.append(Request(_ITEM_ACTIONS[kind], table(item["TableName"]),
                                     _leading_keys(item.get("Key"), item.get("Item"))))
            return found
        if operation in ("BatchGetItem", "BatchWriteItem"):
            found = []
            for name, batch in params.get("RequestItems", {}).items():
                if isinstance(batch, dict):  # BatchGetItem: {"Keys": [...]}
                    keys = batch.get("Keys", [])
                else:  # BatchWriteItem: [{"PutRequest": {"Item"}} | {"DeleteRequest": {"Key"}}]
                    keys = [w.get("Key") or w.get("Item") for write in batch for w in write.values()]
                found.append(Request(f"dynamodb:{operation}", table(name), _leading_keys(*keys)))
            return found
        if "StreamArn" in params:
            return [Request(f"dynamodb:{operation}", params["StreamArn"])]
        if "ShardIterator" in params:  # GetRecords: an iterator begins with its stream's ARN, then `|`
            return [Request(f"dynamodb:{operation}", str(params["ShardIterator"]).split("|", 1)[0])]
        if operation == "ListStreams":
            return [Request("dynamodb:ListStreams", f"{table(params['TableName'])}/stream/*"
                            if params.get("TableName") else "*")]
        resource = table(params.get("TableName", "*"))
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        context = _query_leading_key(params) if operation == "Query" else \
            _leading_keys(params.get("Key"), params.get("Item"))
        return [Request(f"dynamodb:{operation}", resource, context)]
    action = _ACTIONS.get((prefix, operation), f"{prefix}:{operation}")
    if prefix == "s3":
        bucket = params.get("Bucket", "*")
        if action == "s3:ListBucket":
            context = (("s3:prefix", (params.get("Prefix", ""),)),)
            return [Request(action, f"arn:aws:s3:::{bucket}", context)]
        if operation == "DeleteObjects":
            return [Request(action, f"arn:aws:s3:::{bucket}/{o['Key']}") for o in params["Delete"]["Objects"]]
        if operation == "CopyObject":
            source = params["CopySource"]
            source = f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else source.lstrip("/")
            return [Request("s3:GetObject", f"arn:aws:s3:::{source}"),
                    Request("s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}")]
        return [Request(action, f"arn:aws:s3:::{bucket}/{params['Key']}" if "Key" in params
                        else f"arn:aws:s3:::{bucket}")]
    if prefix == "sns":  # a text to a phone number names no topic: only Resource "*" (or arn:aws:sns:*) allows it
        return [Request(action, params.get("TopicArn") or params.get("TargetArn") or f"{arn}:phone-number")]
    if prefix == "sqs":
        name = str(params.get("QueueUrl", "*")).rstrip("/").rsplit("/", 1)[-1]
        return [Request(action, f"arn:aws:sqs:{region}:{ACCOUNT}:{name}")]
    if prefix == "states":
        return [Request(action, params.get("stateMachineArn") or params.get("executionArn") or "*")]
    if prefix == "lambda":
        name = str(params.get("FunctionName", "*"))
        return [Request(action, name if name.startswith("arn:") else f"{arn}:function:{name}")]
    if prefix == "secretsmanager":
        secret = str(params.get("SecretId", "*"))
        return [Request(action, secret if secret.startswith("arn:") else _secret_arn(secret, f"{arn}:secret:{secret}"))]
    if prefix == "ses":  # the sender's identity, and the configuration set if the call names one
        sender = str(params.get("FromEmailAddress") or params.get("Source") or "")
        domain = sender.rsplit("@", 1)[-1].rstrip(">")
        found = [Request(action, f"{arn}:identity/{domain}")]
        if params.get("ConfigurationSetName"):
            found.append(Request(action, f"{arn}:configuration-set/{params['ConfigurationSetName']}"))
        return found
    if prefix == "cognito-idp":
        return [Request(action, f"{arn}:userpool/{params.get('UserPoolId', '*')}")]
    if prefix == "sms-voice":  # SendTextMessage: the configuration set and the origination identity it names
        found = [Request(action, f"{arn}:configuration-set/{params['ConfigurationSetName']}")] \
            if params.get("ConfigurationSetName") else []
        identity = params.get("OriginationIdentity")
        if identity:
            kind = "phone-number" if str(identity).startswith("+") else "sender-id"
            found.append(Request(action, f"{arn}:{kind}/{identity}" + ("/ID" if kind == "sender-id" else "")))
        return found or [Request(action, "*")]
    return [Request(action, f"{arn}:unknown")]  # a service this table does not know: only a wildcard allows it


# --- the evaluator -----------------------------------------------------------------------------------------

class Evaluator:
    """infra/iam_simulate.mjs as a child process, one JSON line per question; answers are cached."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            ["node", str(EVALUATOR)], cwd=PROJECT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1)
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, Request], dict[str, Any]] = {}
        self._next = 0

    def evaluate(self, function: Function, request: Request) -> dict[str, Any]:
        key = (function.logical_id, request)
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self._next += 1
                assert self._process.stdin is not None and self._process.stdout is not None
                self._process.stdin.write(json.dumps({
                    "id": self._next, "principal": function.principal, "policies": function.policies,
                    "action": request.action, "resource": request.resource, "account": ACCOUNT,
                    "context": {k: list(v) if len(v) != 1 or k == "dynamodb:LeadingKeys" else v[0]
                                for k, v in request.context},
                }) + "\n")
                line = self._process.stdout.readline()
                if not line:
                    raise RuntimeError("the IAM evaluator (infra/iam_simulate.mjs) stopped")
                answer = json.loads(line)
                if answer.get("errors"):
                    raise RuntimeError(f"the IAM evaluator refused {request}: {answer['errors']}")
                self._answers[key] = answer
            return answer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._process.stdin is not None:
                self._process.stdin.close()
            self._process.wait(timeout=5)


@dataclass
class Enforcer:
    functions: dict[str, Function]
    evaluator: Evaluator
    calls: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    allowed_by: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    denied: list[tuple[str, Request]] = field(default_factory=list)
    settings_read: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def check(self, logical_id: str, prefix: str, operation: str, params: dict[str, Any], region: str) -> None:
        function = self.functions[logical_id]
        for request in requests_of(prefix, operation, params, region):
            if request.context:  # only the keys some statement's condition names
                request = Request(request.action, request.resource,
                                  tuple((k, v) for k, v in request.context if k.lower() in function.condition_keys))
            answer = self.evaluator.evaluate(function, request)
            self.calls[logical_id].add((request.action, request.resource))
            if answer["result"] != "Allowed":
                self.denied.append((logical_id, request))
                # action and ARN only: a condition's context (dynamodb:LeadingKeys) can hold a phone number
                _log.warning("IAM: %s may not %s on %s (its packaged policy does not allow it)",
                             logical_id, request.action, request.resource)
                raise AccessDenied(
                    f"User: {function.principal}/relasi-{STAGE}-{logical_id} is not authorized to perform: "
                    f"{request.action} on resource: {request.resource} because no identity-based policy allows "
                    f"the {request.action} action")
            for statement in answer["allowed_by"]:
                self.allowed_by[logical_id].add((statement, request.action))


_ENFORCER: Enforcer | None = None


def enforcer() -> Enforcer | None:
    return _ENFORCER


@contextlib.contextmanager
def acting_as(logical_id: str | None) -> Iterator[None]:
    """Run the block as the packaged function `logical_id` (None: outside any function)."""
    token = FUNCTION.set(logical_id)
    try:
        yield
    finally:
        FUNCTION.reset(token)


def function_of_handler(handler: str) -> str | None:
    """The logical id of the packaged function whose Handler is `handler` ("app.app", "app.on_table_change")."""
    if _ENFORCER is None:
        return None
    return next((f.logical_id for f in _ENFORCER.functions.values() if f.handler == handler), None)


def _as_function(logical_id: str, handler: Any) -> Any:
    import functools

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        with acting_as(logical_id):
            return handler(*args, **kwargs)

    run.relasi_function = logical_id  # type: ignore[attr-defined]
    return run


# --- installing ---------------------------------------------------------------------------------------------

def available() -> bool:
    import shutil

    return shutil.which("node") is not None and SIMULATOR_PACKAGE.is_dir()


def _settings_environment() -> dict[str, tuple[str, ...]]:
    """Each chalicelib.config.Settings field and the environment variables it is read from, from config.py's
    own text (`name=env.get("VAR"` in settings(), `os.environ.get("VAR"` in a field's default; a field made
    from a local variable inherits that variable's)."""
    import chalicelib.config as config

    text = Path(config.__file__).read_text()
    direct: dict[str, tuple[str, ...]] = {m.group(1): (m.group(2),) for m in re.finditer(
        r"^\s*(\w+)\s*(?::[^=\n]*)?=\s*(?:field\(default_factory=lambda:\s*)?\w*\(?(?:env|os\.environ)\.get\(\"([A-Z_]+)\"",
        text, re.M)}
    derived: dict[str, tuple[str, ...]] = {}
    for m in re.finditer(r"^\s*(\w+)=([^\n]+),$", text, re.M):
        variables = tuple(var for name, names in direct.items() for var in names
                          if re.search(rf"\b{name}\b", m.group(2)))
        if variables and m.group(1) not in direct:
            derived[m.group(1)] = variables
    fields = set(config.Settings.__dataclass_fields__)
    found = {k: v for k, v in {**direct, **derived}.items() if k in fields}
    kept = {k: tuple(v for v in vs if not v.startswith("AWS_")) for k, vs in found.items() if k not in OPTIONAL_SETTINGS}
    return {k: vs for k, vs in kept.items() if vs}


def install(environment: dict[str, str], region: str) -> Enforcer | None:
    """Check, from now on, every AWS call and setting read made as a packaged function (see the module's
    docstring); returns the enforcer, or None (and says so) where Node or iam-simulate is missing."""
    global _ENFORCER
    if _ENFORCER is not None:
        return _ENFORCER
    if not available():
        print("note: IAM policies are not enforced locally (needs node and `npm ci`)", flush=True)
        return None
    functions = functions_of(packaged_template(), region, environment)
    _ENFORCER = Enforcer(functions, Evaluator())
    _patch_sdk()
    _patch_threads()
    _patch_settings(_settings_environment())
    _patch_handlers(functions)
    _patch_state_machines()
    return _ENFORCER


def _patch_state_machines() -> None:
    """moto's Step Functions engine runs each execution on its own thread: it runs as its state machine (the
    service integrations' calls, under the state machine's role)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._execution_logic

    def _execution_logic(self: Any) -> Any:
        FUNCTION.set(function_of_handler(f"states:{self._evaluation_details.state_machine_details.name}"))
        return original(self)

    ExecutionWorker._execution_logic = _execution_logic  # type: ignore[method-assign]


def _patch_sdk() -> None:
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        logical_id = FUNCTION.get()
        if logical_id is not None and _ENFORCER is not None:
            model = self.meta.service_model
            prefix = model.signing_name or model.endpoint_prefix
            try:
                _ENFORCER.check(logical_id, prefix, operation_name, api_params, self.meta.region_name)
            except AccessDenied as denied:
                code = {"s3": "AccessDenied", "sns": "AuthorizationError"}.get(prefix, "AccessDeniedException")
                raise ClientError({"Error": {"Code": code, "Message": str(denied)},
                                   "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": str(uuid.uuid4())}},
                                  operation_name) from None
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]


def _patch_threads() -> None:
    """A thread started inside a function (the export's parallel scan) runs as that function too."""
    original_start = threading.Thread.start
    original_bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def start(self: threading.Thread) -> None:
        self._relasi_function = FUNCTION.get()  # type: ignore[attr-defined]
        original_start(self)

    def _bootstrap_inner(self: threading.Thread) -> None:  # in the new thread, before its run()
        FUNCTION.set(getattr(self, "_relasi_function", None))
        original_bootstrap(self)

    threading.Thread.start = start  # type: ignore[method-assign]
    threading.Thread._bootstrap_inner = _bootstrap_inner  # type: ignore[attr-defined]


def _patch_settings(settings_env: dict[str, tuple[str, ...]]) -> None:
    from chalicelib.config import Settings

    def __getattribute__(self: Any, name: str) -> Any:
        value = object.__getattribute__(self, name)
        logical_id = FUNCTION.get()
        if logical_id is not None and _ENFORCER is not None and name in settings_env:
            function = _ENFORCER.functions[logical_id]
            missing = [v for v in settings_env[name] if v not in function.environment]
            if missing:
                raise MissingSetting(f"{logical_id} reads settings().{name}, but its packaged environment "
                                     f"has no {', '.join(missing)}")
            _ENFORCER.settings_read[logical_id].add(name)
        return value

    Settings.__getattribute__ = __getattribute__  # type: ignore[method-assign]


def _patch_handlers(functions: dict[str, Function]) -> None:
    """app.py's Lambda handlers (the module attributes Lambda calls, and app.handler_map, which the scheduler,
    the invoke route and chalice.test's Client call) run as their packaged function."""
    import app as app_module

    for function in functions.values():
        module, _, attribute = function.handler.rpartition(".")
        if module != "app" or attribute == "app":
            continue  # the API: infra/gateway.py runs each request as it
        handler = getattr(app_module, attribute, None)
        if handler is None or getattr(handler, "relasi_function", None):
            continue
        scoped = _as_function(function.logical_id, handler)
        setattr(app_module, attribute, scoped)
        handler_map = getattr(app_module.app, "handler_map", {})
        for name, mapped in list(handler_map.items()):
            if mapped is handler:
                handler_map[name] = scoped


_SECRET_ARNS: dict[str, str] = {}


def _secret_arn(name: str, fallback: str) -> str:
    """A secret asked for by name is judged by its ARN, `-??????` suffix and all, as AWS judges it: looked up
    once (outside any function, so unchecked)."""
    if name not in _SECRET_ARNS:
        import boto3

        token = FUNCTION.set(None)
        try:
            _SECRET_ARNS[name] = str(boto3.client("secretsmanager").describe_secret(SecretId=name)["ARN"])
        except Exception:
            return fallback  # no such secret: the call fails on its own
        finally:
            FUNCTION.reset(token)
    return _SECRET_ARNS[name]


def unused() -> dict[str, list[str]]:
    """Per function, each statement's actions that no checked call used ("<policy>/<Sid>: <action>")."""
    if _ENFORCER is None:
        return {}
    report: dict[str, list[str]] = {}
    for logical_id, function in _ENFORCER.functions.items():
        used = _ENFORCER.allowed_by.get(logical_id, set())
        lines = []
        for policy in function.policies:
            statements = policy["policy"].get("Statement", [])
            for statement in statements if isinstance(statements, list) else [statements]:
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement.get("Action", [])
                for action in [actions] if isinstance(actions, str) else actions:
                    if action.startswith("logs:"):
                        continue  # Lambda's own log delivery, never the code's
                    if (f"{policy['name']}/{statement.get('Sid', '?')}", action) not in used:
                        lines.append(f"{policy['name']}/{statement.get('Sid', '?')}: {action}")
        if lines:
            report[logical_id] = lines
    return report


def unread_variables() -> dict[str, list[str]]:
    """Per function, the packaged environment variables behind settings its code never read in this run."""
    if _ENFORCER is None:
        return {}
    settings_env = _settings_environment()
    report = {}
    for logical_id, function in _ENFORCER.functions.items():
        read = {v for name in _ENFORCER.settings_read.get(logical_id, set()) for v in settings_env.get(name, ())}
        known = {v for vs in settings_env.values() for v in vs}
        unread = sorted(v for v in function.environment if v in known and v not in read)
        if unread:
            report[logical_id] = unread
    return report


def os_environment_gaps() -> dict[str, list[str]]:
    """Variables some packaged function has that this process's environment lacks (the local stack must give
    every function what its template gives it)."""
    if _ENFORCER is None:
        return {}
    return {f.logical_id: sorted(k for k in f.environment if k not in os.environ)
            for f in _ENFORCER.functions.values() if any(k not in os.environ for k in f.environment)}
