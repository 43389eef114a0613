"""Infrastructure tests: the CDK app is synthesized ONCE per session and shared.

A jsii synth costs seconds, so every test reads the same assembly:
- `synth`: the app as `cdk synth` builds it from cdk.json's context (defaults);
- `restricted_synth`: the same app with the optional settings on (allowedPrincipals,
  alarmEmail, reserved concurrency for the API, the batch worker and the sweeper (the defaults
  reserve none, so a new account whose quota is 10 can deploy), the account-wide API Gateway logging
  role, event publishers and sources, another
  other MTurk pacing rates and queue-age threshold, a longer
  reconciler delay, provisional website rejections, a shorter event archive), with asset
  bundling skipped (CDK's `aws:cdk:bundling-stacks` = none) since `synth` covers it.
Both run the cdk-nag AwsSolutions plugin exactly as `app.py` does: a finding would
make the fixture itself fail.

The test modules of this folder share their lookups as methods of `Synth` (the fixtures' type)
and their expectations as fixtures (`service_env`, `api_routes`), not by importing this module:
tests/infra has no `__init__.py`, so pytest imports this file as a top-level `conftest`, a name
other folders' conftest files share.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The jsii runtime behind aws-cdk-lib starts `node` from PATH: the project's Node 22 (package.json), as
# `make` does, also when pytest is run directly.
_PROJECT_NODE = Path(__file__).resolve().parents[2] / "node_modules" / ".bin"
if (_PROJECT_NODE / "node").exists() and not os.environ.get("PATH", "").startswith(str(_PROJECT_NODE)):
    os.environ["PATH"] = f"{_PROJECT_NODE}{os.pathsep}{os.environ.get('PATH', '')}"

from aws_cdk import App, assertions, cx_api  # noqa: E402

from infra.application import build_app  # noqa: E402
from infra.stack import MTurkDecisionsStack  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]

RESTRICTED_CONTEXT = {
    "allowedPrincipals": "arn:aws:iam::111122223333:role/mturk-ops, 444455556666",
    "alarmEmail": "ops@example.com",
    "apiReservedConcurrency": "10",
    "workerReservedConcurrency": "2",
    "apiGatewayCloudWatchRole": "true",
    "eventSources": "acme.qa, acme.billing",
    "mturkRequesterAccountId": "777788889999",
    "mturkInitialRate": "2.5",
    "mturkMaxRate": "20",
    "workQueueMaxAgeMinutes": "60",
    "sweeperReservedConcurrency": "1",
    "reconcileAfterSeconds": "1800",
    "websiteRejectionGrace": "pt72h",
    "eventArchiveRetentionDays": "7",
    "aws:cdk:bundling-stacks": [],
}


@dataclass
class Synth:
    app: App
    stack: MTurkDecisionsStack
    assembly: cx_api.CloudAssembly
    outdir: Path
    template: assertions.Template
    json: dict[str, Any] = field(default_factory=dict)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == resource_type}

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def resource(self, construct: Any) -> dict[str, Any]:
        """The template's resource (Type, Properties, DeletionPolicy...) of `construct`."""
        return self.json["Resources"][self.logical_id(construct)]

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)

    def props(self, construct: Any) -> dict[str, Any]:
        return self.json["Resources"][self.logical_id(construct)]["Properties"]

    def ref(self, construct: Any) -> dict[str, str]:
        return {"Ref": self.logical_id(construct)}

    def arn(self, construct: Any) -> dict[str, list[str]]:
        return {"Fn::GetAtt": [self.logical_id(construct), "Arn"]}

    def statements(self, function: Any) -> list[dict[str, Any]]:
        """The statements of `function`'s role (its one default policy)."""
        role_ref = self.ref(function.role)
        policies = [
            r["Properties"]["PolicyDocument"]["Statement"]
            for r in self.resources("AWS::IAM::Policy").values()
            if role_ref in r["Properties"]["Roles"]
        ]
        assert len(policies) == 1, policies
        return policies[0]

    def grants(self, function: Any) -> set[tuple[str, str]]:
        """(action, resource as JSON) for every Allow of `function`'s role."""
        return {
            (action, json.dumps(resource, sort_keys=True))
            for statement in self.statements(function)
            if statement["Effect"] == "Allow"
            for action in as_list(statement["Action"])
            for resource in as_list(statement["Resource"])
        }

    def actions_on(self, function: Any, construct: Any) -> set[str]:
        """Actions `function` may call on `construct` (its ARN, or any ARN built from it: indexes)."""
        logical_id = self.logical_id(construct)
        return {action for action, resource in self.grants(function) if logical_id in resource}

    def invoked_id(self, function: Any) -> str:
        """The logical id of what triggers and integrations invoke: the `live` alias of a SnapStart function
        (`infra.constructs.functions.invoke_target`), else the function."""
        from infra.constructs.functions import invoke_target

        return self.stack.get_logical_id(invoke_target(function).node.default_child)

    def event_source_mapping(self, function: Any) -> dict[str, Any]:
        """The properties of the one event source mapping of `function` (of its `live` alias, if it has one)."""
        invoked = self.invoked_id(function)
        mappings = [
            m["Properties"]
            for m in self.resources("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == self.ref(function) or invoked in json.dumps(m["Properties"]["FunctionName"])
        ]
        assert len(mappings) == 1, mappings
        return mappings[0]

    def queue_policy(self, queue: Any) -> list[dict[str, Any]]:
        """The statements of the one queue policy of `queue` (a construct or a logical id)."""
        queue_ref = {"Ref": queue} if isinstance(queue, str) else self.ref(queue)
        policies = [
            p["Properties"]["PolicyDocument"]["Statement"]
            for p in self.resources("AWS::SQS::QueuePolicy").values()
            if p["Properties"]["Queues"] == [queue_ref]
        ]
        assert len(policies) == 1, (queue_ref, policies)
        return policies[0]

    def alarms(self) -> dict[str, dict[str, Any]]:
        return {k: v["Properties"] for k, v in self.resources("AWS::CloudWatch::Alarm").items()}

    def alarms_on(self, metric_name: str, dimension_value: Any) -> list[dict[str, Any]]:
        """Alarms whose (math) metric is `metric_name` with a dimension equal to `dimension_value`."""
        found = []
        for alarm in self.alarms().values():
            metrics = [alarm] + [q.get("MetricStat", {}).get("Metric", {}) for q in alarm.get("Metrics", [])]
            if any(
                m.get("MetricName") == metric_name
                and any(d["Value"] == dimension_value for d in m.get("Dimensions", []))
                for m in metrics
            ):
                found.append(alarm)
        return found


def as_list(value: Any) -> list:
    """An IAM policy field (Action, Resource) that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def synthesize(outdir: Path, overrides: dict[str, Any] | None = None) -> Synth:
    context = {**CDK_JSON_CONTEXT, **(overrides or {})}
    app, stack = build_app(context=context, outdir=str(outdir), environ={})
    assembly = app.synth()
    template = assertions.Template.from_stack(stack)
    return Synth(app, stack, assembly, outdir, template, template.to_json())


# The environment every function running the decision service reads (`ServiceContext`), with the
# Powertools settings of the function factory.
SERVICE_ENV = frozenset(
    {
        "AUDIT_TABLE_NAME",
        "IDEMPOTENCY_TABLE_NAME",
        "MTURK_SECRET_ID",
        "MTURK_ENDPOINT",
        "SECRET_MAX_AGE_SECONDS",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "PYDANTIC_DISABLE_PLUGINS",
    }
)

# Every route of the API handler, (verb, path): the API exposes exactly these, each acknowledged
# for cdk-nag's COG4 (IAM authorization instead of Cognito).
API_ROUTES = frozenset(
    {
        ("POST", "/assignments/{assignmentId}/reject"),
        ("POST", "/assignments/{assignmentId}/reverse"),
        ("POST", "/assignments/{assignmentId}/approve"),
        ("GET", "/assignments/{assignmentId}"),
        ("GET", "/decisions"),
        ("GET", "/swagger"),
        # bulk decisions (infra/constructs/bulk_decisions.py)
        ("POST", "/batches"),
        ("GET", "/batches/{batchId}"),
        ("POST", "/hits/{hitId}/reversals"),
        # uploaded batches (infra/constructs/batch_uploads.py)
        ("POST", "/batches/uploads"),
        ("GET", "/batches/{batchId}/plan"),
        ("POST", "/batches/{batchId}/apply"),
        # automatic reversals (infra/constructs/automatic_reversals.py)
        ("POST", "/assignments/{assignmentId}/confirm"),
        ("DELETE", "/assignments/{assignmentId}/scheduled-reversal"),
        ("GET", "/scheduled-reversals"),
        # MTurk notifications (infra/constructs/event_integration.py)
        ("PUT", "/hit-types/{hitTypeId}/notifications"),
    }
)


@pytest.fixture(scope="session")
def service_env() -> frozenset[str]:
    """Names of the service environment every decision-making function gets (see SERVICE_ENV)."""
    return SERVICE_ENV


@pytest.fixture(scope="session")
def api_routes() -> frozenset[tuple[str, str]]:
    """(verb, path) of every route of the API (see API_ROUTES)."""
    return API_ROUTES


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def restricted_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-restricted"), RESTRICTED_CONTEXT)
