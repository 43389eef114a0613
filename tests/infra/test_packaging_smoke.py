"""Packaging smoke test: what Lambda gets, imported and invoked once in a clean interpreter.

From the cloud assembly that the `synth` fixture builds (the app as `cdk synth` builds it, with asset
bundling), a temporary directory is laid out as Lambda lays out a function:

- `task/` (Lambda's /var/task): the functions' code asset, `Code.from_asset("lambdas")`, as staged in cdk.out;
- `opt/python/` (Lambda's /opt/python): the functions' layers, in the functions' order, later ones over
  earlier ones:
  - PynamoDB: the layer's bundled `python/` folder from cdk.out, as is (pure Python);
  - Powertools + pydantic: cdk.out's layer holds the wheels for python3.12 on arm64, and pydantic-core is
    compiled, so those files cannot be imported on this machine. The test first checks that cdk.out's layer
    holds exactly the distributions and versions of `infra/assets/powertools-layer/requirements.txt` (and an
    aarch64 pydantic-core), then installs that same lock for *this* interpreter's platform in its place.
    The wheels are kept in a wheelhouse (`~/.cache/mturk-decisions/wheels/host-...`), so a second run needs
    no network;
- `sdk/` (the runtime's AWS SDK): AWS documents no fixed boto3 version for the python3.12 runtime (it
  "depends on the runtime version and your AWS Region"), so the SDK the project pins and tests with
  (requirements.txt's boto3, the venv's botocore, s3transfer, jmespath, python-dateutil, six, urllib3; all
  pure Python) is copied from the venv.

Then each function of the template runs in its own `python -I -S` process (no site-packages, no PYTHON*
variables) whose `sys.path` is only task/, opt/python/ and sdk/ in front of the standard library, with the
function's environment from the template (tokens replaced by made-up names), fake credentials, and every
AWS endpoint (and MTurk's) at http://127.0.0.1:9, where nothing listens. The handler module is imported and
the handler called once with a minimal event of its trigger's shape and a fake context. An answer such as
503 AUDIT_UNAVAILABLE, or an error raised because AWS is unreachable, is fine: what fails the test is an
ImportError / ModuleNotFoundError anywhere (at import, raised by the call, wrapped in a batch failure, or
logged by a catch-all handler), or a module loaded from outside the assembled folders.

This interpreter is the venv's (python3.11 here), not Lambda's 3.12: the test proves that the packaged files
are complete and importable, not the behaviour of another Python version.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from infra.constructs.layers import (
    POWERTOOLS_LOCK,
    PinnedInstallError,
    install_pinned,
    installed_distributions,
    normalize,
    read_lock,
    wheelhouse,
)

HANDLER_PACKAGE = "mturk_decisions.handlers."
HANDLER_MODULES = {
    f"{HANDLER_PACKAGE}{name}" for name in ("api", "batch_worker", "events", "notifications", "scheduler", "reconciler",
                                           "upload_parser")
}
# The runtime's SDK: boto3 and what it needs, copied from the venv (pure Python).
SDK_ROOT = "boto3"
NOWHERE = "http://127.0.0.1:9"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ASSIGNMENT_ID = "3SMOKETESTASSIGNMENT0000000001"
HIT_ID = "3SMOKETESTHIT00000000000000001"
WORKER_ID = "A1SMOKETESTWORKER0001"
IMPORT_FAILURE = re.compile(r"\b(ModuleNotFoundError|ImportError)\b[^\n\"]*")
RUN_TIMEOUT_SECONDS = 60


# ----------------------------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class PackagedFunction:
    logical_id: str
    handler: str
    environment: dict[str, str]

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]


@dataclass
class Assembly:
    root: Path
    functions: list[PackagedFunction]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> list[str]:
        return [str(self.root / "task"), str(self.root / "opt" / "python"), str(self.root / "sdk")]


def _asset_dir(synth, s3_key: str) -> Path:
    """The staged directory of a file asset, from the stack's asset manifest."""
    manifest = json.loads((synth.outdir / f"{synth.stack.artifact_id}.assets.json").read_text())
    source = manifest["files"][s3_key.removesuffix(".zip")]["source"]
    assert source["packaging"] == "zip", source
    return synth.outdir / source["path"]


def _resolve(value: Any, resources: dict[str, Any]) -> Any:
    """A template value with its tokens replaced by made-up, well-formed names (nothing is deployed)."""
    if isinstance(value, list):
        return [_resolve(v, resources) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value:
        name = value["Ref"]
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "MTurkDecisions"}
        if name in pseudo:
            return pseudo[name]
        kind = resources.get(name, {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if kind == "AWS::SecretsManager::Secret":
            return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
        return f"smoke-{name}"
    if "Fn::GetAtt" in value:
        name, attribute = value["Fn::GetAtt"]
        if attribute == "QueueUrl":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if attribute == "QueueName":
            return name
        service = resources.get(name, {}).get("Type", "AWS::Unknown::X").split("::")[1].lower()
        return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}" if attribute.endswith("Arn") else f"smoke-{name}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(_resolve(p, resources)) for p in parts)
    if "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(_resolve({"Ref": m.group(1)}, resources)), text)
    return json.dumps(value)


def _sdk_distributions() -> list[importlib.metadata.Distribution]:
    """boto3 and everything it requires (markers evaluated for this interpreter), as installed in the venv."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [SDK_ROOT]
    while todo:
        name = normalize(todo.pop())
        if name in found:
            continue
        dist = importlib.metadata.distribution(name)
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def _copy_distribution(dist: importlib.metadata.Distribution, target: Path) -> None:
    """The files of an installed distribution (packages, modules, dist-info), without bytecode."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    tops = {f.parts[0] for f in dist.files or [] if not f.parts[0].startswith("..") and f.parts[0] != "bin"}
    for name in sorted(tops):
        source = Path(str(dist.locate_file(name)))
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore, dirs_exist_ok=True)
        elif source.is_file() and source.suffix == ".py":
            shutil.copy2(source, target / name)


def _host_wheelhouse_tag() -> str:
    return f"host-{sys.implementation.cache_tag}-{sysconfig.get_platform().replace('-', '_').replace('.', '_')}"


def assemble(synth, root: Path) -> Assembly:
    """Lay out task/, opt/python/ and sdk/ under `root` from `synth`'s cloud assembly (see module docstring)."""
    started = time.monotonic()
    resources = synth.json["Resources"]
    functions = {
        logical_id: r["Properties"]
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and str(r["Properties"].get("Handler", "")).startswith(HANDLER_PACKAGE)
    }
    code_keys = {props["Code"]["S3Key"] for props in functions.values()}
    assert len(code_keys) == 1, f"the service's functions should share one code asset: {code_keys}"
    layer_orders = {json.dumps(props.get("Layers", [])) for props in functions.values()}
    assert len(layer_orders) == 1, f"the service's functions should share one layer list: {layer_orders}"
    layer_refs = json.loads(layer_orders.pop())

    shutil.copytree(_asset_dir(synth, code_keys.pop()), root / "task")

    opt = root / "opt" / "python"
    opt.mkdir(parents=True)
    powertools_id = synth.logical_id(synth.stack.layers.powertools)
    notes: list[str] = []
    for ref in layer_refs:
        logical_id = ref["Ref"]
        layer_dir = _asset_dir(synth, resources[logical_id]["Properties"]["Content"]["S3Key"]) / "python"
        if logical_id == powertools_id:
            layer_dir = _powertools_for_this_machine(layer_dir, root / "powertools-host")
            notes.append(f"powertools layer: {sorted(installed_distributions(layer_dir).items())}")
        shutil.copytree(layer_dir, opt, dirs_exist_ok=True)

    sdk = root / "sdk"
    sdk.mkdir()
    for dist in _sdk_distributions():
        _copy_distribution(dist, sdk)
        notes.append(f"sdk: {dist.metadata['Name']}=={dist.version}")

    # Bytecode once, here, rather than by every run in parallel (Lambda compiles in memory: /opt is read-only).
    subprocess.run([sys.executable, "-I", "-S", "-m", "compileall", "-q", "-j", "0", str(root / "task"), str(opt), str(sdk)],
                   check=True, capture_output=True, timeout=RUN_TIMEOUT_SECONDS)

    packaged = [
        PackagedFunction(
            logical_id=logical_id,
            handler=props["Handler"],
            environment={k: str(_resolve(v, resources)) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
        )
        for logical_id, props in sorted(functions.items())
    ]
    return Assembly(root=root, functions=packaged, seconds=time.monotonic() - started, notes=notes)


def _powertools_for_this_machine(deployed: Path, target: Path) -> Path:
    """The lock installed for this interpreter, after checking that cdk.out's layer is that lock for arm64."""
    pins = read_lock(POWERTOOLS_LOCK)
    if not (deployed / "aws_lambda_powertools").is_dir():
        pytest.fail(
            f"cdk.out's Powertools layer was not built ({sorted(p.name for p in deployed.iterdir())}): the synth ran "
            "without the package index and without the wheels in the wheelhouse; run the tests once with network access"
        )
    assert installed_distributions(deployed) == pins, "cdk.out's Powertools layer is not the lock"
    compiled = [p.name for p in (deployed / "pydantic_core").glob("*.so")]
    assert compiled and all("aarch64" in name for name in compiled), compiled
    target.mkdir(parents=True)
    try:
        install_pinned(POWERTOOLS_LOCK, target, wheels=wheelhouse(_host_wheelhouse_tag()))
    except PinnedInstallError as exc:
        pytest.fail(f"cannot install the Powertools lock for this machine: {exc}")
    shutil.rmtree(target / "bin", ignore_errors=True)
    assert installed_distributions(target) == pins
    return target


# ------------------------------------------------------------------------------------------- smoke runs

# Minimal events of each trigger's shape, by handler module.
def _sqs(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "00000000-0000-4000-8000-000000000001",
                "receiptHandle": "smoke-receipt",
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1700000000000",
                    "SenderId": ACCOUNT,
                    "ApproximateFirstReceiveTimestamp": "1700000000000",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:smoke-queue",
                "awsRegion": REGION,
            }
        ]
    }


def _eventbridge(detail_type: str, source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "00000000-0000-4000-8000-000000000002",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2024-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": detail,
    }


def _api_decisions_of_worker() -> dict[str, Any]:
    """GET /decisions?workerId=...: a read of the audit table alone (its PynamoDB model, its client), the first
    thing the request needs: a package without PynamoDB fails here, whatever else is lazy."""
    path = "/decisions"
    identity = {"sourceIp": "127.0.0.1", "userArn": f"arn:aws:iam::{ACCOUNT}:user/smoke", "caller": "AIDASMOKE",
                "accountId": ACCOUNT, "user": "AIDASMOKE", "userAgent": "smoke"}
    return {
        "resource": "/decisions",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "application/json", "Host": "smoke.execute-api.us-east-1.amazonaws.com"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": {"workerId": WORKER_ID},
        "multiValueQueryStringParameters": {"workerId": [WORKER_ID]},
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/decisions",
            "httpMethod": "GET",
            "path": f"/v1{path}",
            "stage": "v1",
            "requestId": "00000000-0000-4000-8000-000000000003",
            "accountId": ACCOUNT,
            "apiId": "smoke",
            "identity": identity,
            "requestTimeEpoch": 1700000000000,
        },
        "body": None,
        "isBase64Encoded": False,
    }


EVENTS: dict[str, dict[str, Any]] = {
    f"{HANDLER_PACKAGE}api": _api_decisions_of_worker(),
    f"{HANDLER_PACKAGE}batch_worker": _sqs({"batchId": "smoke-batch", "hitId": None, "lines": [1]}),
    f"{HANDLER_PACKAGE}events": _sqs(
        _eventbridge("Reversal Requested", "mturk-decisions.requester",
                     {"assignmentId": ASSIGNMENT_ID, "feedback": "smoke", "requester": "smoke"})
    ),
    f"{HANDLER_PACKAGE}notifications": _sqs(
        {
            "EventDocId": "smoke-doc",
            "SourceAccount": ACCOUNT,
            "CustomerId": "ASMOKECUSTOMER",
            "EventDocVersion": "2014-08-15",
            "Events": [
                {"EventType": "AssignmentRejected", "EventTimestamp": "2024-01-01T00:00:00Z", "HITId": HIT_ID,
                 "AssignmentId": ASSIGNMENT_ID, "HITTypeId": "3SMOKEHITTYPE"}
            ],
        }
    ),
    f"{HANDLER_PACKAGE}scheduler": _eventbridge("Scheduled Event", "aws.events", {}),
    f"{HANDLER_PACKAGE}reconciler": _eventbridge("Scheduled Event", "aws.events", {}),
    f"{HANDLER_PACKAGE}upload_parser": _sqs({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION, "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "smoke-uploads", "arn": "arn:aws:s3:::smoke-uploads"},
               "object": {"key": "uploads%2F" + "0" * 32 + ".csv", "size": 1024, "eTag": "smoke"}}}]}),
}

# Runs in `python -I -S`: only the standard library until sys.path is extended.
RUNNER = r'''
import importlib, json, sys, traceback

spec = json.loads(sys.argv[1])
stdlib = list(sys.path)
sys.path[:0] = spec["path"]


class Context:
    function_name = spec["function"]
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"]
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-00000000000a"
    log_group_name = "/aws/lambda/" + spec["function"]
    log_stream_name = "smoke"
    identity = None
    client_context = None

    @staticmethod
    def get_remaining_time_in_millis():
        return 29_000


def chain(exc):
    """exc, its causes and contexts, and the exceptions a batch processor collected."""
    seen, todo = [], [exc]
    while todo:
        error = todo.pop()
        if error is None or any(error is s for s in seen):
            continue
        seen.append(error)
        todo += [error.__cause__, error.__context__]
        for child in getattr(error, "child_exceptions", None) or []:
            todo.append(child[1] if isinstance(child, tuple) and len(child) > 1 else child)
    return [{"type": type(e).__name__, "import_error": isinstance(e, ImportError),
             "message": str(e)[:400], "missing": getattr(e, "name", None)} for e in seen]


report = {"handler": spec["handler"]}
module_name, _, function_name = spec["handler"].rpartition(".")
try:
    handler = getattr(importlib.import_module(module_name), function_name)
except BaseException as exc:
    report.update(phase="import", errors=chain(exc), traceback=traceback.format_exc()[-2000:])
else:
    try:
        report.update(phase="answered", answer=handler(spec["event"], Context()))
    except BaseException as exc:
        report.update(phase="raised", errors=chain(exc), traceback=traceback.format_exc()[-2000:])
allowed = tuple(spec["path"]) + tuple(p for p in stdlib if p)
report["outside"] = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and not str(module.__file__).startswith(allowed)
    and name not in ("__main__", "__mp_main__")  # this runner
)
with open(spec["report"], "w") as out:
    json.dump(report, out, default=repr)
'''


@dataclass
class SmokeResult:
    function: str
    handler: str
    phase: str
    answer: Any
    errors: list[dict[str, Any]]
    import_failures: list[str]
    outside: list[str]
    output: str
    seconds: float

    def summary(self) -> str:
        return f"{self.handler} ({self.function}): {self.phase}; import failures {self.import_failures}"


def smoke_run(assembly: Assembly, function: PackagedFunction, workdir: Path) -> SmokeResult:
    """Import `function`'s handler and call it once, in a clean interpreter over `assembly` only."""
    workdir.mkdir(parents=True, exist_ok=True)
    report_file = workdir / f"{function.logical_id}.json"
    runner = workdir / "smoke_runner.py"
    runner.write_text(RUNNER)
    pynamodb_settings = workdir / "pynamodb_settings.py"
    pynamodb_settings.write_text("max_retry_attempts = 0\n")  # PynamoDB's own botocore retries (3 by default)
    spec = {
        "path": assembly.path,
        "handler": function.handler,
        "function": function.logical_id,
        "event": EVENTS.get(function.module, {}),
        "report": str(report_file),
    }
    env = {
        # What the template gives the function, and what Lambda sets.
        **function.environment,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "LAMBDA_TASK_ROOT": str(assembly.root / "task"),
        "_HANDLER": function.handler,
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "PATH": "/usr/bin:/bin",
        "HOME": str(workdir),
        # AWS and MTurk pointed at nothing: every call fails at once, without retries or backoff.
        "AWS_ENDPOINT_URL": NOWHERE,
        "MTURK_ENDPOINT": NOWHERE,
        "MTURK_MAX_ATTEMPTS": "1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
        "PYNAMODB_CONFIG": str(pynamodb_settings),
        "AWS_ACCESS_KEY_ID": "ASIASMOKETEST0000000",
        "AWS_SECRET_ACCESS_KEY": "smoke-secret",
        "AWS_SESSION_TOKEN": "smoke-token",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-I", "-S", str(runner), json.dumps(spec)],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )
    seconds = time.monotonic() - started
    output = completed.stdout + completed.stderr
    if not report_file.exists():
        pytest.fail(f"{function.handler}: the smoke runner died (exit {completed.returncode}):\n{output[-3000:]}")
    report = json.loads(report_file.read_text())
    errors = report.get("errors", [])
    failures = [f"{e['type']}: {e['message']}" for e in errors if e["import_error"]]
    # A catch-all handler may log an import failure and answer 500: the logs are read too.
    failures += [m.group(0) for m in IMPORT_FAILURE.finditer(output + report.get("traceback", ""))]
    return SmokeResult(
        function=function.logical_id,
        handler=function.handler,
        phase=report["phase"],
        answer=report.get("answer"),
        errors=errors,
        import_failures=sorted(set(failures)),
        outside=report["outside"],
        output=output,
        seconds=seconds,
    )


def smoke_all(assembly: Assembly, workdir: Path) -> dict[str, SmokeResult]:
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = pool.map(lambda f: smoke_run(assembly, f, workdir / f.logical_id), assembly.functions)
        return {result.function: result for result in runs}


# ------------------------------------------------------------------------------------------------ tests


@pytest.fixture(scope="session")
def assembly(synth, tmp_path_factory) -> Assembly:
    return assemble(synth, tmp_path_factory.mktemp("lambda-package"))


@pytest.fixture(scope="session")
def smoke_results(assembly, tmp_path_factory) -> dict[str, SmokeResult]:
    return smoke_all(assembly, tmp_path_factory.mktemp("smoke-runs"))


def test_every_handler_of_the_template_is_packaged(assembly):
    # Given the functions of the synthesized template that run the service's code
    modules = {f.module for f in assembly.functions}
    # Then every handler module is there, and each one's file is in the code asset
    assert modules == HANDLER_MODULES
    for module in modules:
        assert (assembly.root / "task" / (module.replace(".", "/") + ".py")).is_file(), module
    # And the layers brought PynamoDB, Powertools and pydantic, the SDK folder boto3
    opt = assembly.root / "opt" / "python"
    assert {"pynamodb", "aws_lambda_powertools", "pydantic", "pydantic_core"} <= {p.name for p in opt.iterdir()}
    assert (assembly.root / "sdk" / "boto3").is_dir() and (assembly.root / "sdk" / "botocore").is_dir()


def test_every_handler_imports_and_answers_once_in_a_clean_interpreter(smoke_results):
    # Given each function run once over the packaged code, layers and SDK only
    problems = {
        name: result.summary() + "\n" + result.output[-1500:]
        for name, result in smoke_results.items()
        if result.phase == "import" or result.import_failures or result.outside
    }
    # Then every handler imported, was called, and nothing failed to import (nor came from elsewhere)
    assert not problems, "\n\n".join(problems.values())
    assert {r.phase for r in smoke_results.values()} <= {"answered", "raised"}
    # And the API answered through its error mapping, not with an exception (its store is unreachable)
    (api,) = [r for r in smoke_results.values() if r.handler.startswith(f"{HANDLER_PACKAGE}api.")]
    assert api.phase == "answered" and isinstance(api.answer, dict), api.summary()
    assert 400 <= api.answer["statusCode"] < 600 and api.answer["statusCode"] != 500, api.answer
    assert json.loads(api.answer["body"]).get("code"), api.answer


def test_the_smoke_run_reports_a_missing_dependency(assembly, tmp_path):
    # Given the same package without the PynamoDB layer's pynamodb folder
    broken = Assembly(root=tmp_path / "broken", functions=assembly.functions)
    shutil.copytree(assembly.root, broken.root, symlinks=True)
    shutil.rmtree(broken.root / "opt" / "python" / "pynamodb")
    # When the API handler and the batch worker run once
    wanted = {f"{HANDLER_PACKAGE}api", f"{HANDLER_PACKAGE}batch_worker"}
    functions = [f for f in broken.functions if f.module in wanted]
    results = [smoke_run(broken, f, tmp_path / "runs" / f.logical_id) for f in functions]
    # Then each run names its handler and the ModuleNotFoundError for pynamodb, whether the handler raised
    # it or Powertools' batch processor collected it from the record
    assert {r.handler.rpartition(".")[0] for r in results} == wanted
    for result in results:
        assert any("ModuleNotFoundError" in f for f in result.import_failures), result.summary()
        assert "No module named 'pynamodb'" in result.output + json.dumps(result.errors), result.output[-3000:]
        assert result.handler in result.summary()
