"""Builds the CDK app: used by the top-level `app.py` and by `tests/infra`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Tags

from infra.config import ServiceConfig
from infra.nag import add_nag_checks
from infra.stack import MTurkDecisionsStack

TAGS = {"project": "mturk-decisions", "managed-by": "aws-cdk"}
# cfn-lint 1.40's resource schema has no Tags on AWS::CloudWatch::Dashboard (E3002); a dashboard
# needs no cost-allocation tags, so it is left untagged rather than ignoring E3002 everywhere.
UNTAGGED_RESOURCE_TYPES = ["AWS::CloudWatch::Dashboard"]


def environment_from(env: Mapping[str, str]) -> Environment | None:
    """`CDK_DEFAULT_ACCOUNT`/`CDK_DEFAULT_REGION` (set by the CLI from your credentials).

    Without them the stack is environment-agnostic (`AWS::Region`/`AWS::AccountId`
    resolved at deploy time); nothing here calls AWS at synth time.
    """
    account = env.get("CDK_DEFAULT_ACCOUNT") or None
    region = env.get("CDK_DEFAULT_REGION") or None
    if account is None and region is None:
        return None
    return Environment(account=account, region=region)


def build_app(
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    env: Environment | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[App, MTurkDecisionsStack]:
    app = App(context=dict(context or {}), outdir=outdir)
    config = ServiceConfig.from_context(app.node.try_get_context)
    stack = MTurkDecisionsStack(
        app,
        config.stack_name,
        config=config,
        env=env if env is not None else environment_from(os.environ if environ is None else environ),
    )
    for key, value in TAGS.items():
        Tags.of(app).add(key, value, exclude_resource_types=UNTAGGED_RESOURCE_TYPES)
    add_nag_checks(app)
    return app, stack
