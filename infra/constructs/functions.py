"""House defaults for every Lambda function of the service, in one place.

Every function (the API handler now; the bulk worker, the reconciler and the
scheduled jobs later) is created through `LambdaFactory.create`, which gives it:
the `lambdas/` folder as code, the Powertools + PynamoDB layers, python3.12 on
arm64, JSON logging into its own log group with retention, X-Ray active tracing,
the Powertools environment, and its OWN role (no managed policy: log writes are
granted on its log group only). Callers then add grants to `function.role`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.layers import ARCHITECTURE, RUNTIME
from infra.nag import acknowledge

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
# Glob patterns (matched against each file's base name at any depth).
LAMBDA_CODE_EXCLUDES = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    "tests",
    "test_*.py",
    "*_test.py",
    "conftest.py",
)

SERVICE_NAME = "mturk-decisions"
METRICS_NAMESPACE = "MTurkDecisions"
LOG_LEVEL = "INFO"


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the service's functions."""

    handler: str
    description: str
    timeout: Duration = field(default_factory=lambda: Duration.seconds(29))
    memory_size: int = 512
    reserved_concurrency: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


class LambdaFactory:
    """Creates functions with the house defaults (see module docstring)."""

    def __init__(
        self,
        *,
        layers: Sequence[lambda_.ILayerVersion],
        log_retention: logs.RetentionDays,
        environment: Mapping[str, str] | None = None,
        code_dir: Path = LAMBDAS_DIR,
    ) -> None:
        if not code_dir.is_dir():
            raise FileNotFoundError(f"Lambda code folder {code_dir} does not exist")
        self.layers = list(layers)
        self.log_retention = log_retention
        self.environment = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": LOG_LEVEL,
            **(environment or {}),
        }
        # One AssetCode object: every function of a stack shares the same S3 asset.
        self.code = lambda_.Code.from_asset(str(code_dir), exclude=list(LAMBDA_CODE_EXCLUDES))

    def create(self, scope: Construct, construct_id: str, spec: FunctionSpec) -> lambda_.Function:
        holder = Construct(scope, construct_id)
        log_group = logs.LogGroup(
            holder,
            "Logs",
            retention=self.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            holder,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{SERVICE_NAME} {construct_id} function role",
        )
        log_group.grant_write(role)

        function = lambda_.Function(
            holder,
            "Function",
            description=spec.description,
            code=self.code,
            handler=spec.handler,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            layers=self.layers,
            memory_size=spec.memory_size,
            timeout=spec.timeout,
            reserved_concurrent_executions=spec.reserved_concurrency,
            role=role,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.INFO,
            tracing=lambda_.Tracing.ACTIVE,
            environment={**self.environment, **spec.environment},
        )

        # Tracing.ACTIVE adds xray:PutTraceSegments/PutTelemetryRecords on "*" to the role's
        # default policy; acknowledge exactly that finding on exactly that policy.
        default_policy = role.node.try_find_child("DefaultPolicy")
        if default_policy is not None:
            acknowledge(
                default_policy,
                "IAM5",
                "xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level "
                "permissions (the X-Ray service authorization reference lists no resource types for "
                "them), so X-Ray active tracing can only be granted on Resource '*'.",
                finding="Resource::*",
            )
        acknowledge(
            function,
            "L1",
            "Pinned to python3.12 on purpose: the stack's Powertools layer (pins in "
            "infra/assets/powertools-layer/requirements.txt, pydantic-core built for cp312/arm64) and the "
            "PynamoDB layer are built for 3.12; the runtime, the layers' platform and the tested dependency "
            "set are upgraded together.",
        )
        return function
