"""The API function: runtime, logging, tracing, environment, layers, code asset."""

from __future__ import annotations

import json
from pathlib import Path

from infra.constructs.functions import LAMBDA_CODE_EXCLUDES, LAMBDAS_DIR
from infra.constructs.layers import PYNAMODB_LAYER_SOURCE, read_pin

REPO_ROOT = Path(__file__).resolve().parents[2]


def _asset_dir(synth, s3_key: str) -> Path:
    """The staged directory of a file asset, from the stack's asset manifest."""
    asset_hash = s3_key.removesuffix(".zip")
    manifest = json.loads((synth.outdir / f"{synth.stack.artifact_id}.assets.json").read_text())
    source = manifest["files"][asset_hash]["source"]
    assert source["packaging"] == "zip"
    return synth.outdir / source["path"]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_function_runtime_architecture_tracing_and_json_logging(synth):
    # Given the API handler function
    props = synth.props(synth.stack.api.function)
    # Then it runs python3.12 on arm64 with X-Ray active tracing and JSON logs
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    assert props["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    # And it has the handler, memory and timeout of the contract; no reservation by default (the stage's
    # throttling bounds the rate, and a new account's quota of 10 allows no reservation)
    assert props["Handler"] == "mturk_decisions.handlers.api.handler"
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 29
    assert "ReservedConcurrentExecutions" not in props


def test_function_logs_to_its_own_log_group_with_retention(synth):
    # Given the function's log group
    props = synth.props(synth.stack.api.function)
    log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
    # Then it is a log group of this stack with a retention
    log_group = synth.json["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 90


def test_function_environment_is_the_handler_contract(synth):
    # Given the function's environment
    env = synth.props(synth.stack.api.function)["Environment"]["Variables"]
    store, secret = synth.stack.audit_store, synth.stack.secret
    # Then it names the tables, the secret (by ARN) and the MTurk endpoint, plus Powertools settings
    assert env["AUDIT_TABLE_NAME"] == {"Ref": synth.logical_id(store.audit_table)}
    assert env["IDEMPOTENCY_TABLE_NAME"] == {"Ref": synth.logical_id(store.idempotency_table)}
    assert env["MTURK_SECRET_ID"] == {"Ref": synth.logical_id(secret.secret)}
    assert env["MTURK_ENDPOINT"] == "sandbox"
    assert env["POWERTOOLS_SERVICE_NAME"] == "mturk-decisions"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MTurkDecisions"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert env["SECRET_MAX_AGE_SECONDS"] == "300"
    # And the bulk resources it submits batches to
    bulk = synth.stack.bulk
    assert env["BATCH_TABLE_NAME"] == {"Ref": synth.logical_id(bulk.table)}
    assert env["WORK_QUEUE_URL"] == {"Ref": synth.logical_id(bulk.queue)}
    # And not the worker's pacing settings (the API does not pace)
    assert not {"MTURK_INITIAL_RATE", "MTURK_MAX_RATE"} & set(env)


def test_function_uses_the_stacks_powertools_layer_and_the_pynamodb_layer(synth):
    # Given the function's layers
    layers = synth.props(synth.stack.api.function)["Layers"]
    # Then both are layers of this stack, Powertools (built from its lock) first, then PynamoDB
    assert layers == [synth.ref(synth.stack.layers.powertools), synth.ref(synth.stack.layers.pynamodb)]
    # And both are built for python3.12 on arm64
    for layer in layers:
        props = synth.json["Resources"][layer["Ref"]]["Properties"]
        assert props["CompatibleRuntimes"] == ["python3.12"]
        assert props["CompatibleArchitectures"] == ["arm64"]


def test_no_layer_is_taken_from_another_account(synth, restricted_synth):
    # Given both templates
    # When / Then no function refers to a layer by ARN (such as the public Powertools layer)
    for s in (synth, restricted_synth):
        for function in s.resources("AWS::Lambda::Function").values():
            assert all(set(layer) == {"Ref"} for layer in function["Properties"].get("Layers", [])), function


def test_reserved_concurrency_can_be_set(restricted_synth):
    # Given apiReservedConcurrency=10
    props = restricted_synth.props(restricted_synth.stack.api.function)
    # Then at most 10 API environments run at once
    assert props["ReservedConcurrentExecutions"] == 10


def test_function_code_is_the_lambdas_folder_without_caches_or_tests(synth):
    # Given the staged code asset of the function
    code = synth.props(synth.stack.api.function)["Code"]
    staged = _asset_dir(synth, code["S3Key"])
    # Then it holds exactly the files of lambdas/ minus the excluded patterns
    expected = {
        f
        for f in _files(LAMBDAS_DIR)
        if not any(Path(f).match(p) or p in Path(f).parts for p in LAMBDA_CODE_EXCLUDES)
    }
    assert _files(staged) == expected
    assert LAMBDAS_DIR == REPO_ROOT / "lambdas"
    if (LAMBDAS_DIR / "mturk_decisions" / "handlers" / "api.py").exists():
        assert "mturk_decisions/handlers/api.py" in _files(staged)
    assert not [f for f in _files(staged) if "__pycache__" in f or f.endswith(".pyc")]


def test_pynamodb_layer_is_bundled_under_python_with_the_pinned_version(synth):
    # Given the staged PynamoDB layer asset (built by local bundling, no Docker)
    layer = synth.resource(synth.stack.layers.pynamodb)
    staged = _asset_dir(synth, layer["Properties"]["Content"]["S3Key"])
    # Then it contains python/pynamodb and the dist-info of the pinned version only
    _, version = read_pin(PYNAMODB_LAYER_SOURCE / "requirements.txt")
    top = {p.name for p in (staged / "python").iterdir()}
    assert top == {"pynamodb", f"pynamodb-{version}.dist-info"}
    assert (staged / "python" / "pynamodb" / "models.py").is_file()


def test_pynamodb_layer_pin_matches_the_project_pin():
    # Given the layer's pin and the project's runtime requirements
    _, layer_version = read_pin(PYNAMODB_LAYER_SOURCE / "requirements.txt")
    pins = [
        line.split("==", 1)[1].strip()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line.lower().startswith("pynamodb==")
    ]
    # Then the Lambda gets the PynamoDB version the code is tested with
    assert pins == [layer_version]
