"""One run for the suite: the template synthesized (in a child process) while an offline stack starts whose
functions run in process environments, each configured as the template configures it and recording its
AWS calls; the scenarios; then every recorded call evaluated against its function's role.

`LEAST_PRIVILEGE_REPORT=path.md` also writes the run's figures there (they are always in the run's
temporary directory, with the recorded calls and the functions' logs).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.stack import (
    DEMO_PRINCIPAL,
    EVENTS_FUNCTION,
    FUNCTIONS,
    NOTIFICATIONS_FUNCTION,
    REGION,
    UPLOAD_PARSER_FUNCTION,
    WORKER_FUNCTION,
    LocalFunction,
    OfflineStack,
)
from tests.least_privilege import policy
from tests.least_privilege.report import markdown
from tests.least_privilege.scenarios import Log, Scenarios
from tests.least_privilege.template import BackgroundTemplate

HANDLER_NAMES = {handler: function.name for handler, function in FUNCTIONS.items()}
#: The queue each local trigger polls for its function (local.stack.start_worker_trigger and
#: start_event_triggers): the local counterpart of that function's event source mapping.
TRIGGER_QUEUES = {WORKER_FUNCTION.name: "WORK_QUEUE_URL", EVENTS_FUNCTION.name: "REVERSAL_REQUESTS_QUEUE_URL",
                  NOTIFICATIONS_FUNCTION.name: "NOTIFICATIONS_QUEUE_URL", UPLOAD_PARSER_FUNCTION.name: "UPLOADS_QUEUE_URL"}


@dataclass
class Run:
    model: policy.TemplateModel
    reports: dict[str, policy.FunctionReport]
    log: Log
    workdir: Path
    seconds: float


def read_calls(directory: Path) -> dict[str, list[dict]]:
    calls = {}
    for path in sorted(directory.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        calls[path.stem] = sorted(lines, key=lambda call: call.get("at", 0))
    return calls


def local_secret_arn(stack: OfflineStack) -> dict[str, str]:
    """The secret's full ARN as Secrets Manager authorizes it (its name and moto's 6 random characters),
    in the account the model uses."""
    import boto3

    name = stack.env["MTURK_SECRET_ID"]
    arn = boto3.client("secretsmanager", region_name=REGION, endpoint_url=stack.moto_url).describe_secret(
        SecretId=name)["ARN"]
    suffix = arn.rsplit("-", 1)[1]
    return {name: f"arn:{policy.PARTITION}:secretsmanager:{REGION}:{policy.ACCOUNT}:secret:{name}-{suffix}"}


@pytest.fixture(scope="session")
def least_privilege(tmp_path_factory: pytest.TempPathFactory) -> Run:
    from tests.integration.conftest import SignedApi

    started = time.monotonic()
    workdir = tmp_path_factory.mktemp("least-privilege")
    calls_dir = workdir / "calls"
    template = BackgroundTemplate(workdir)
    roles: dict[str, policy.FunctionRole] = {}
    stack = OfflineStack(suffix="-leastpriv", concurrency=2)

    def function_env(function: LocalFunction) -> dict[str, str]:
        """As the template configures the function (its resources only), recording its AWS calls."""
        if not roles:
            roles.update(policy.TemplateModel(template.get(), {}, {}, HANDLER_NAMES).roles)
        if function.name not in roles:
            raise KeyError(f"{function.name} is not a function of the synthesized template: {sorted(roles)}")
        return {**policy.function_environment(roles[function.name], stack.env),
                "LOCAL_AWS_CALL_LOG": str(calls_dir), "LOCAL_LAMBDA_LOG": str(workdir / f"{function.name}.log")}

    stack.function_env = function_env
    try:
        with stack:
            api = SignedApi(stack.gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)
            try:
                log = Scenarios(stack, api).run()
            except AssertionError as error:  # not an AssertionError: the findings' xfails must not absorb it
                raise RuntimeError(f"a scenario failed: {error} (logs in {workdir})") from error
            links = policy.local_links(template.get(), stack.env, HANDLER_NAMES, TRIGGER_QUEUES)
            secret_arns = local_secret_arn(stack)
    finally:
        template.stop()
    model = policy.TemplateModel(template.get(), links, secret_arns, HANDLER_NAMES)
    calls = read_calls(calls_dir)
    reports = {name: policy.analyse_function(role, calls.get(name, []), model) for name, role in model.roles.items()}
    run = Run(model, reports, log, workdir, time.monotonic() - started)
    text = markdown(run)
    (workdir / "least-privilege.md").write_text(text)
    if os.environ.get("LEAST_PRIVILEGE_REPORT"):
        Path(os.environ["LEAST_PRIVILEGE_REPORT"]).write_text(text)
    return run
