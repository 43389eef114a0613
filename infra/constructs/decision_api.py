"""The IAM-signed REST API and the Lambda function behind it.

Routes (all Lambda proxy to one Powertools `APIGatewayRestResolver` handler):

    POST /assignments/{assignmentId}/reject    body: RejectRequest  (feedback required)
    POST /assignments/{assignmentId}/reverse   body: ReverseRequest (feedback?, reason?)
    POST /assignments/{assignmentId}/approve   body: ApproveRequest (feedback?, reason?)
    GET  /assignments/{assignmentId}
    GET  /decisions
    GET  /swagger                              Swagger UI; `?format=json` is the OpenAPI document

Every method uses AWS_IAM (SigV4) authorization — callers are the requester's own
IAM principals and scripts — and there is no CORS preflight (no browser callers),
so no method is ever unauthenticated. Gateway-level errors (missing signature,
access denied, throttling, invalid body...) are JSON `{"code", "message", "requestId"}`
like the handler's own errors, `code` being API Gateway's response type.

The body models check SHAPES only (an object, field types, `feedback` present for a
reject): lengths and characters are MTurk's rules, which the handler checks and reports
rule by rule (`INVALID_FEEDBACK` with `rule` = `REQUIRED` / `MAX_LENGTH` /
`FORBIDDEN_CHARACTER`), which a gateway `BAD_REQUEST_BODY` could not.

Later constructs expose more of the handler's routes with `add_route(...)`, which applies the
same rules: `infra.constructs.bulk_decisions` (POST /batches, GET /batches/{batchId},
POST /hits/{hitId}/reversals), `infra.constructs.automatic_reversals` (POST
/assignments/{assignmentId}/confirm, DELETE /assignments/{assignmentId}/scheduled-reversal) and
`infra.constructs.event_integration` (PUT /hit-types/{hitTypeId}/notifications).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.functions import FunctionSpec, invoke_target
from infra.constructs.service_context import ServiceContext
from infra.nag import acknowledge

API_HANDLER = "mturk_decisions.handlers.api.handler"
# Where a body model applies: JSON, and ($default) any other content type, so that a body
# sent as text/plain is validated too instead of skipping validation.
ALL_CONTENT_TYPES = ("application/json", "$default")

# One JSON line per request; everything quoted so an empty value never breaks the JSON.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integration.status",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "callerAccountId": "$context.identity.accountId",
    "caller": "$context.identity.caller",
    "userArn": "$context.identity.userArn",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "xrayTraceId": "$context.xrayTraceId",
}

# `$context.error.messageString` is already a quoted JSON string.
ERROR_BODY = '{"code":"$context.error.responseType","message":$context.error.messageString,"requestId":"$context.requestId"}'


@dataclass(frozen=True)
class BodySchema:
    name: str
    description: str
    feedback_required: bool


BODY_SCHEMAS = {
    # Feedback is required to reject, but the handler says so (INVALID_FEEDBACK, rule REQUIRED), as offline:
    # a gateway BAD_REQUEST_BODY would answer the same request differently once deployed.
    "reject": BodySchema("RejectRequest", "Reject an assignment; feedback is shown to the worker.", False),
    "reverse": BodySchema("ReverseRequest", "Reverse a rejection (approve with OverrideRejection).", False),
    "approve": BodySchema("ApproveRequest", "Approve a submitted assignment.", False),
}


def string_field(*, nullable: bool) -> apigw.JsonSchema:
    """A string (optional fields may also be JSON null, as the handler's models accept)."""
    if nullable:
        return apigw.JsonSchema(type=[apigw.JsonSchemaType.STRING, apigw.JsonSchemaType.NULL])
    return apigw.JsonSchema(type=apigw.JsonSchemaType.STRING)


def object_schema(
    title: str,
    description: str,
    *,
    properties: Mapping[str, apigw.JsonSchema] | None = None,
    required: Sequence[str] | None = None,
) -> apigw.JsonSchema:
    """The API Gateway model of a request body: a JSON object, shapes only (see the module docstring).

    No length or pattern constraints, and unknown fields are left to the handler, which
    names the rule or field that failed. Without `required`, an empty body passes.
    """
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title=title,
        description=description,
        type=apigw.JsonSchemaType.OBJECT,
        required=list(required) if required else None,
        properties=dict(properties) if properties else None,
    )


def body_json_schema(spec: BodySchema) -> apigw.JsonSchema:
    """The model of a POST body of a single decision (reject, reverse, approve)."""
    return object_schema(
        spec.name,
        spec.description,
        required=["feedback"] if spec.feedback_required else None,
        properties={
            "feedback": string_field(nullable=not spec.feedback_required),
            "reason": string_field(nullable=True),
        },
    )


class DecisionApi(Construct):
    """API Lambda (via the factory) + REST API with IAM auth, validation, logs, tracing."""

    def __init__(self, scope: Construct, construct_id: str, services: ServiceContext) -> None:
        super().__init__(scope, construct_id)
        self.config = services.config
        self._add_function(services)
        self._add_rest_api()
        self._add_execution_logs()
        self.validator = self.api.add_request_validator(
            "Validator",
            request_validator_name="body-and-parameters",
            validate_request_body=True,
            validate_request_parameters=True,
        )
        self.integration = apigw.LambdaIntegration(
            invoke_target(self.function),  # the `live` alias: SnapStart snapshots published versions only
            proxy=True,
            # One invoke permission for the whole API instead of two per method.
            scope_permission_to_method=False,
        )
        self._add_gateway_responses()
        self._add_routes()
        self._acknowledge_api_findings()

    def _add_function(self, services: ServiceContext) -> None:
        self.function = services.factory.create(
            self,
            "Handler",
            FunctionSpec(
                handler=API_HANDLER,
                description="mturk-decisions API: reject / reverse / approve assignments, audited",
                timeout=Duration.seconds(29),
                memory_size=512,
                # Optional: the stage's throttling already bounds the request rate; a reservation would
                # also cap concurrent MTurk calls, but needs an account quota above 10 + the reservation.
                reserved_concurrency=self.config.api_reserved_concurrency,
                environment=services.service_environment(),
                # Nearly every request of a requester's API lands on a cold environment: restore a snapshot.
                snap_start=True,
            ),
        )
        services.audit_store.grant_audit_write(self.function, indexes=("by-worker", "by-hit", "by-day"))
        services.audit_store.grant_idempotency(self.function)
        services.secret.grant_read(self.function)

    def _add_rest_api(self) -> None:
        config = self.config
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{config.stack_name}-api",
            description="mturk-decisions: reject assignments and reverse rejections (IAM/SigV4 only)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The account-wide API Gateway logging role: created only when asked (it replaces any role
            # the account already has); `make deploy`'s preflight tells when the account needs one.
            cloud_watch_role=config.api_gateway_cloudwatch_role,
            policy=self._resource_policy(),
            default_method_options=apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM),
            deploy_options=apigw.StageOptions(
                stage_name=config.stage_name,
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,
                metrics_enabled=True,
                throttling_rate_limit=config.api_throttle_rate_limit,
                throttling_burst_limit=config.api_throttle_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            ),
        )
        # The stack exports the URL once, as `ApiUrl`; drop the RestApi's own duplicate output.
        self.api.node.try_remove_child("Endpoint")

    def _add_execution_logs(self) -> None:
        """API Gateway writes execution logs to a group it names itself and creates without retention:
        create that group here, with the configured retention, before any request is logged."""
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=Fn.join("", ["API-Gateway-Execution-Logs_", self.api.rest_api_id, "/",
                                        self.config.stage_name]),
            retention=self.config.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api.deployment_stage.node.add_dependency(self.execution_logs)

    # ---- routes ---------------------------------------------------------------------------
    def _add_routes(self) -> None:
        self.add_route("GET", "/assignments/{assignmentId}")
        for action, spec in BODY_SCHEMAS.items():
            model = self.add_json_model(spec.name, body_json_schema(spec))
            self.add_route("POST", f"/assignments/{{assignmentId}}/{action}", body_model=model)
        self.add_route("GET", "/decisions")
        # The UI, and (`?format=json`) the OpenAPI document: one route of the handler.
        self.add_route("GET", "/swagger")

    def add_json_model(self, name: str, schema: apigw.JsonSchema) -> apigw.Model:
        """A JSON-schema model for request bodies (name: alphanumeric, unique in the API)."""
        return self.api.add_model(f"{name}Model", model_name=name, content_type="application/json", schema=schema)

    def add_route(
        self,
        http_method: str,
        path: str,
        *,
        body_model: apigw.IModel | None = None,
        body_model_content_types: tuple[str, ...] = ALL_CONTENT_TYPES,
        integration: apigw.Integration | None = None,
    ) -> apigw.Method:
        """Expose `http_method path` (e.g. "POST", "/batches") with the house rules.

        The seam for later constructs that add routes to the same handler (bulk batches,
        HIT-wide reversals): IAM authorization, the body+parameters validator, every
        `{pathParameter}` required, the JSON `body_model` applied to any content type (or only
        to `body_model_content_types`: API Gateway validates no body whose content type has
        no model, e.g. a `text/csv` upload next to a JSON model), and the Lambda proxy
        integration to the API function unless another one is given.
        """
        resource = self.api.root.resource_for_path(path)
        path_parameters = re.findall(r"{(\w+)}", path)
        method = resource.add_method(
            http_method,
            integration or self.integration,
            authorization_type=apigw.AuthorizationType.IAM,
            request_validator=self.validator,
            request_parameters={f"method.request.path.{name}": True for name in path_parameters} or None,
            # With `$default`, a body that is not JSON is validated against the same schema and
            # rejected (400 BAD_REQUEST_BODY) instead of skipping validation.
            request_models=dict.fromkeys(body_model_content_types, body_model)
            if body_model
            else None,
        )
        acknowledge(
            method,
            "COG4",
            "IAM (SigV4) authorization instead of a Cognito user pool: the callers are the "
            "requester's own IAM users/roles and scripts signing with their AWS credentials; "
            "there are no end users to sign in, and access is governed by IAM policies (and the "
            "optional resource policy from allowedPrincipals).",
        )
        return method

    # ---- gateway-level errors as JSON ---------------------------------------------------------
    def _add_gateway_responses(self) -> None:
        for response_id, response_type in (
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX),
        ):
            self.api.add_gateway_response(
                response_id,
                type=response_type,
                response_headers={"Content-Type": "'application/json'"},
                templates={"application/json": ERROR_BODY},
            )

    # ---- optional resource policy -------------------------------------------------------------
    def _resource_policy(self) -> iam.PolicyDocument | None:
        """Only the configured principals may invoke (on top of IAM auth), when any are set.

        The Allow admits the listed principals (needed for other accounts); the Deny is what
        shuts out every other principal of THIS account, whose own IAM policies would
        otherwise suffice for an IAM-authorized API.
        """
        config = self.config
        if not config.allowed_principals:
            return None
        principals: list[iam.IPrincipal] = [iam.AccountPrincipal(a) for a in config.allowed_account_ids]
        principals += [iam.ArnPrincipal(arn) for arn in config.allowed_principal_arns]
        not_listed: dict[str, dict[str, list[str]]] = {}
        if config.allowed_principal_arns:
            not_listed["ArnNotEquals"] = {"aws:PrincipalArn": list(config.allowed_principal_arns)}
        if config.allowed_account_ids:
            not_listed["StringNotEquals"] = {"aws:PrincipalAccount": list(config.allowed_account_ids)}
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="AllowListedPrincipals",
                    effect=iam.Effect.ALLOW,
                    principals=principals,
                    actions=["execute-api:Invoke"],
                    resources=["execute-api:/*"],
                ),
                iam.PolicyStatement(
                    sid="DenyEveryoneElse",
                    effect=iam.Effect.DENY,
                    principals=[iam.AnyPrincipal()],
                    actions=["execute-api:Invoke"],
                    resources=["execute-api:/*"],
                    conditions=not_listed,
                ),
            ]
        )

    # ---- cdk-nag ------------------------------------------------------------------------------
    def _acknowledge_api_findings(self) -> None:
        stage = self.api.deployment_stage
        acknowledge(
            stage,
            "APIG3",
            "No AWS WAF web ACL: every method requires a SigV4 signature from an IAM principal of the "
            "requester (unsigned or unauthorized calls are refused by API Gateway before any "
            "integration runs) and the stage is throttled (apiThrottleRateLimit / apiThrottleBurstLimit); a "
            "web ACL would add cost without a threat it mitigates here.",
        )
        if self.config.api_gateway_cloudwatch_role:
            role = self.api.node.try_find_child("CloudWatchRole")
            if role is not None:
                acknowledge(
                    role,
                    "IAM4",
                    "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-managed policy made for the "
                    "account-level API Gateway logging role (it is required for the INFO execution "
                    "logs of this API); it is assumable only by apigateway.amazonaws.com.",
                    finding="Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                )

    @property
    def url(self) -> str:
        return self.api.url

    @property
    def stage_name(self) -> str:
        return self.api.deployment_stage.stage_name
