"""House defaults for every Lambda function of the service, in one place.

Every function (the API handler now; the bulk worker, the reconciler and the
scheduled jobs later) is created through `LambdaFactory.create`, which gives it:
the `lambdas/` folder as code, the Powertools + PynamoDB layers, python3.12 on
arm64, JSON logging into its own log group with retention, X-Ray active tracing,
the Powertools environment, and its OWN role (no managed policy: log writes are
granted on its log group only). Callers then add grants to `function.role`.

SnapStart (`FunctionSpec.snap_start`, for the functions on a request path: the API and the queue
consumers): Lambda initializes a published version once, runs its before-snapshot hook
(`lambdas/mturk_decisions/snapstart.py`) and resumes every new execution environment from that snapshot. It
applies to published versions only, so such a function gets `current_version` (a new version whenever its
code or configuration changes; the old one is deleted, so no stale snapshot is kept and billed) and an
alias `live` on it: whatever invokes the function (API Gateway, an SQS event source mapping) must invoke
`invoke_target(function)`, the alias. The alias acts with the function's role: no grant changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy
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
#: The alias API Gateway and the event source mappings invoke on a SnapStart function.
LIVE_ALIAS = "live"
_LIVE_ALIAS_ID = "Live"


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the service's functions."""

    handler: str
    description: str
    timeout: Duration = field(default_factory=lambda: Duration.seconds(29))
    memory_size: int = 512
    reserved_concurrency: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    #: SnapStart on published versions, invoked through the `live` alias (see the module docstring).
    snap_start: bool = False


def invoke_target(function: lambda_.Function) -> lambda_.IFunction:
    """What a trigger or an integration must invoke: the `live` alias of a SnapStart function (its snapshot
    exists only for published versions), else the function itself."""
    scope = function.node.scope
    alias = scope.node.try_find_child(_LIVE_ALIAS_ID) if scope is not None else None
    return alias if isinstance(alias, lambda_.Alias) else function


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
            # pydantic looks for plugins in every installed distribution's entry points on its first model
            # (importlib.metadata over the layers: ~100 ms of a cold start); the service uses none.
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
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
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if spec.snap_start else None,
            # A replaced version is deleted (not retained): with SnapStart each live version's snapshot is billed.
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY)
            if spec.snap_start else None,
        )
        if spec.snap_start:
            self._add_live_alias(holder, function)

        self._acknowledge_house_defaults(role, function)
        return function

    @staticmethod
    def _acknowledge_house_defaults(role: iam.Role, function: lambda_.Function) -> None:
        """cdk-nag findings the house defaults raise on every function, each with its reason."""
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

    @staticmethod
    def _add_live_alias(holder: Construct, function: lambda_.Function) -> None:
        """`live` on the function's current version: a version is what SnapStart snapshots."""
        lambda_.Alias(holder, _LIVE_ALIAS_ID, alias_name=LIVE_ALIAS, version=function.current_version,
                      description="What API Gateway and the queues invoke: the SnapStart-enabled current version")
        Annotations.of(function).acknowledge_warning(
            "@aws-cdk/aws-lambda:snapStartRequirePublish",
            "current_version publishes a version on every change, and the live alias invokes it",
        )
