"""Infrastructure tests: the CDK app is synthesized ONCE per session and shared.

A jsii synth costs seconds, so every test reads the same assembly:
- `synth`: the app as `cdk synth` builds it from cdk.json's context (defaults);
- `restricted_synth`: the same app with the optional settings on (allowedPrincipals,
  alarmEmail, no reserved concurrency for the API, the batch worker and the sweeper, another
  Powertools layer version, other MTurk pacing rates and queue-age threshold, a longer
  reconciler delay, provisional website rejections, a shorter event archive), with asset
  bundling skipped (CDK's `aws:cdk:bundling-stacks` = none) since `synth` covers it.
Both run the cdk-nag AwsSolutions plugin exactly as `app.py` does: a finding would
make the fixture itself fail.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App, assertions, cx_api  # noqa: E402

from infra.application import build_app  # noqa: E402
from infra.stack import MTurkDecisionsStack  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]

RESTRICTED_CONTEXT = {
    "allowedPrincipals": "arn:aws:iam::111122223333:role/mturk-ops, 444455556666",
    "alarmEmail": "ops@example.com",
    "apiReservedConcurrency": "none",
    "workerReservedConcurrency": "none",
    "powertoolsLayerVersion": "31",
    "mturkInitialRate": "2.5",
    "mturkMaxRate": "20",
    "workQueueMaxAgeMinutes": "60",
    "sweeperReservedConcurrency": "none",
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

    def alarms(self) -> dict[str, dict[str, Any]]:
        return {k: v["Properties"] for k, v in self.resources("AWS::CloudWatch::Alarm").items()}


def synthesize(outdir: Path, overrides: dict[str, Any] | None = None) -> Synth:
    context = {**CDK_JSON_CONTEXT, **(overrides or {})}
    app, stack = build_app(context=context, outdir=str(outdir), environ={})
    assembly = app.synth()
    template = assertions.Template.from_stack(stack)
    return Synth(app, stack, assembly, outdir, template, template.to_json())


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-default"))


@pytest.fixture(scope="session")
def restricted_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-restricted"), RESTRICTED_CONTEXT)
