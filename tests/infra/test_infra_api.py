"""The REST API: IAM everywhere, validation, JSON gateway errors, logs, tracing, throttling."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from aws_cdk.assertions import Match

# Value constraints the handler checks itself, rule by rule; a gateway model never carries them.
VALUE_CONSTRAINTS = {"minLength", "maxLength", "pattern", "minItems", "maxItems", "enum", "format"}


def _paths(synth) -> dict[str, str]:
    """Logical id of each AWS::ApiGateway::Resource -> its full path."""
    resources = synth.resources("AWS::ApiGateway::Resource")
    paths: dict[str, str] = {}

    def path_of(logical_id: str) -> str:
        if logical_id not in paths:
            props = resources[logical_id]["Properties"]
            parent = props["ParentId"]
            prefix = path_of(parent["Ref"]) if isinstance(parent, dict) and "Ref" in parent else ""
            paths[logical_id] = f"{prefix}/{props['PathPart']}"
        return paths[logical_id]

    for logical_id in resources:
        path_of(logical_id)
    return paths


def _models(synth) -> dict[str, tuple[str, dict]]:
    """Model name -> (logical id, properties)."""
    return {m["Properties"]["Name"]: (k, m["Properties"]) for k, m in synth.resources("AWS::ApiGateway::Model").items()}


def _schema_keys(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            yield from _schema_keys(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _schema_keys(value)


def _routes(synth) -> dict[tuple[str, str], dict]:
    paths = _paths(synth)
    routes = {}
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        routes[(props["HttpMethod"], path)] = props
    return routes


def test_every_route_of_the_handler_is_exposed_and_nothing_else(synth, api_routes):
    # Given the synthesized API
    # When its methods are listed by (verb, path)
    routes = _routes(synth)
    # Then they are exactly the handler's routes: no ANY, no OPTIONS preflight
    assert set(routes) == api_routes


def test_every_method_requires_iam_sigv4_authorization(synth, api_routes):
    # Given every method of the API (swagger and the bulk routes included)
    methods = synth.resources("AWS::ApiGateway::Method")
    assert len(methods) == len(api_routes)
    # Then each one uses AWS_IAM, none is NONE/open, and there is no CORS preflight
    for logical_id, method in methods.items():
        props = method["Properties"]
        assert props["AuthorizationType"] == "AWS_IAM", logical_id
        assert props["HttpMethod"] != "OPTIONS", logical_id
    synth.template.resource_properties_count_is(
        "AWS::ApiGateway::Method", {"AuthorizationType": "NONE"}, 0
    )


def test_every_method_is_a_lambda_proxy_to_the_api_handler(synth):
    # Given the API handler function (what API Gateway invokes: its `live` alias, for SnapStart)
    function_id = synth.invoked_id(synth.stack.api.function)
    # Then every method integrates with it through AWS_PROXY
    for props in _routes(synth).values():
        integration = props["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert integration["IntegrationHttpMethod"] == "POST"
        assert function_id in json.dumps(integration["Uri"])


def test_every_method_validates_body_and_parameters(synth):
    # Given the single request validator
    validator_id, validator = synth.only("AWS::ApiGateway::RequestValidator")
    assert validator["Properties"]["ValidateRequestBody"] is True
    assert validator["Properties"]["ValidateRequestParameters"] is True
    # Then every method uses it, and every route requires each of its path parameters
    for (verb, path), props in _routes(synth).items():
        assert props["RequestValidatorId"] == {"Ref": validator_id}, (verb, path)
        parameters = re.findall(r"{(\w+)}", path)
        expected = {f"method.request.path.{name}": True for name in parameters}
        assert props.get("RequestParameters", {}) == expected, (verb, path)


def test_post_bodies_are_validated_against_json_schema_models(synth):
    # Given the models and the POST routes
    models = _models(synth)
    routes = _routes(synth)
    expected = {"reject": "RejectRequest", "reverse": "ReverseRequest", "approve": "ApproveRequest"}
    for action, model_name in expected.items():
        logical_id, model = models[model_name]
        # Then each POST validates application/json AND any other content type ($default) with its model
        request_models = routes[("POST", f"/assignments/{{assignmentId}}/{action}")]["RequestModels"]
        assert request_models == {"application/json": {"Ref": logical_id}, "$default": {"Ref": logical_id}}
        assert model["Schema"]["type"] == "object"
    # And no model requires feedback: a reject without it is refused by the handler naming the rule
    # (INVALID_FEEDBACK, REQUIRED), exactly as offline; feedback and reason may be strings or null
    for optional in ("RejectRequest", "ReverseRequest", "ApproveRequest"):
        schema = models[optional][1]["Schema"]
        assert "required" not in schema
        nullable_string = {"type": ["string", "null"]}
        assert schema["properties"] == {"feedback": nullable_string, "reason": nullable_string}


def test_body_models_check_shapes_only_so_the_handler_names_the_broken_rule(synth):
    # Given every body model of the API
    models = _models(synth)
    assert set(models) == {
        "RejectRequest",
        "ReverseRequest",
        "ApproveRequest",
        "BatchRequest",
        "HitReversalRequest",
        "NotificationsRequest",
        "UploadRequest",
    }
    for name, (_, model) in models.items():
        # Then none constrains lengths, patterns or values: an over-long feedback, an empty one or a
        # forbidden character reaches the handler, which answers INVALID_FEEDBACK with the rule
        assert not VALUE_CONSTRAINTS & set(_schema_keys(model["Schema"])), name
        # And unknown fields are left to the handler too (it names them)
        assert "additionalProperties" not in json.dumps(model["Schema"]), name


def test_batch_submission_validates_json_objects_and_passes_csv_through(synth):
    # Given POST /batches and its model
    logical_id, model = _models(synth)["BatchRequest"]
    route = _routes(synth)[("POST", "/batches")]
    # Then a JSON body must be an object ...
    assert model["ContentType"] == "application/json"
    assert model["Schema"]["type"] == "object"
    assert "required" not in model["Schema"]
    # ... and only application/json has a model: API Gateway validates no other content type, so the
    # batch-results CSV (text/csv) reaches the handler as the proxy event's text body
    assert route["RequestModels"] == {"application/json": {"Ref": logical_id}}
    assert route["RequestValidatorId"] == {"Ref": synth.only("AWS::ApiGateway::RequestValidator")[0]}
    # And no binary media type turns a CSV upload into a base64 body
    _, api = synth.only("AWS::ApiGateway::RestApi")
    assert "BinaryMediaTypes" not in api["Properties"]


def test_hit_reversals_take_an_optional_object_body_like_reverse(synth):
    # Given POST /hits/{hitId}/reversals and its model
    logical_id, model = _models(synth)["HitReversalRequest"]
    route = _routes(synth)[("POST", "/hits/{hitId}/reversals")]
    # Then every content type is validated against an object model that requires nothing
    # (like reverse/approve: an empty body passes the gateway, the handler defaults it)
    assert route["RequestModels"] == {"application/json": {"Ref": logical_id}, "$default": {"Ref": logical_id}}
    assert route["RequestParameters"] == {"method.request.path.hitId": True}
    schema = model["Schema"]
    assert schema["type"] == "object" and "required" not in schema
    assert schema["properties"] == {
        "feedback": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"]},
        "workerIds": {"type": ["array", "null"], "items": {"type": "string"}},
    }


def test_scheduled_reversal_routes_take_no_body(synth):
    # Given the confirm and cancel routes of automatic reversals
    routes = _routes(synth)
    for verb, path in (
        ("POST", "/assignments/{assignmentId}/confirm"),
        ("DELETE", "/assignments/{assignmentId}/scheduled-reversal"),
    ):
        route = routes[(verb, path)]
        # Then each is IAM-authorized, requires the assignment id and has no body model
        assert route["AuthorizationType"] == "AWS_IAM", (verb, path)
        assert route["RequestParameters"] == {"method.request.path.assignmentId": True}, (verb, path)
        assert "RequestModels" not in route, (verb, path)


def test_notification_settings_take_an_optional_active_flag(synth):
    # Given PUT /hit-types/{hitTypeId}/notifications and its model
    logical_id, model = _models(synth)["NotificationsRequest"]
    route = _routes(synth)[("PUT", "/hit-types/{hitTypeId}/notifications")]
    # Then it is IAM-authorized and requires the HIT type id
    assert route["AuthorizationType"] == "AWS_IAM"
    assert route["RequestParameters"] == {"method.request.path.hitTypeId": True}
    # And any content type is validated against an object model with an optional boolean `active`
    # (an empty body passes: the handler turns notifications on)
    assert route["RequestModels"] == {"application/json": {"Ref": logical_id}, "$default": {"Ref": logical_id}}
    schema = model["Schema"]
    assert schema["type"] == "object" and "required" not in schema
    assert schema["properties"] == {"active": {"type": "boolean"}}


def test_batch_status_route_requires_the_batch_id(synth):
    # Given GET /batches/{batchId}
    # When / Then it is IAM-authorized and requires its path parameter
    route = _routes(synth)[("GET", "/batches/{batchId}")]
    assert route["AuthorizationType"] == "AWS_IAM"
    assert route["RequestParameters"] == {"method.request.path.batchId": True}
    assert "RequestModels" not in route


def test_openapi_document_is_served_by_the_swagger_route_only(synth):
    # Given the routes
    # When / Then the OpenAPI document has no route of its own: the handler serves it at
    # GET /swagger?format=json (and the UI at GET /swagger), IAM-authorized like every route
    routes = _routes(synth)
    assert ("GET", "/openapi.json") not in routes
    assert routes[("GET", "/swagger")]["AuthorizationType"] == "AWS_IAM"


def test_gateway_errors_are_json_with_a_machine_readable_code(synth):
    # Given the gateway responses (signature missing, access denied, throttled, bad body...)
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in synth.resources("AWS::ApiGateway::GatewayResponse").values()}
    # Then both defaults answer JSON {"code": <response type>, "message": <quoted message>}
    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for props in responses.values():
        body = props["ResponseTemplates"]["application/json"]
        assert '"code":"$context.error.responseType"' in body
        assert '"message":$context.error.messageString' in body
        assert props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        # A sample substitution gives valid JSON
        sample = body.replace("$context.error.responseType", "ACCESS_DENIED").replace(
            "$context.error.messageString", '"User is not authorized"'
        ).replace("$context.requestId", "abc")
        assert json.loads(sample)["code"] == "ACCESS_DENIED"


def test_stage_has_access_logs_execution_logs_tracing_and_throttling(synth):
    # Given the deployment stage
    _, stage = synth.only("AWS::ApiGateway::Stage")
    props = stage["Properties"]
    # Then X-Ray tracing is on, the stage is throttled, execution logs are INFO without data trace
    assert props["StageName"] == "v1"
    assert props["TracingEnabled"] is True
    assert props["MethodSettings"] == [
        {
            "DataTraceEnabled": False,
            "HttpMethod": "*",
            "LoggingLevel": "INFO",
            "MetricsEnabled": True,
            "ResourcePath": "/*",
            "ThrottlingBurstLimit": 20,
            "ThrottlingRateLimit": 10,
        }
    ]
    # And access logs are JSON lines that name the IAM caller, into a log group with retention
    access_format = json.loads(props["AccessLogSetting"]["Format"])
    assert access_format["userArn"] == "$context.identity.userArn"
    assert access_format["errorType"] == "$context.error.responseType"
    log_group_id = synth.logical_id(synth.stack.api.access_logs)
    assert log_group_id in json.dumps(props["AccessLogSetting"]["DestinationArn"])
    assert synth.json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 90


def test_the_account_wide_logging_role_is_set_only_when_asked(synth, restricted_synth):
    # Given the default config
    # When / Then the stack leaves the account's API Gateway logging role alone
    synth.template.resource_count_is("AWS::ApiGateway::Account", 0)
    # And with apiGatewayCloudWatchRole=true it sets it
    restricted_synth.template.resource_count_is("AWS::ApiGateway::Account", 1)


def test_execution_logs_have_the_configured_retention(synth):
    # Given the API's execution log group (API Gateway would create it without retention)
    groups = [g["Properties"] for g in synth.resources("AWS::Logs::LogGroup").values()
              if "API-Gateway-Execution-Logs_" in json.dumps(g["Properties"].get("LogGroupName"))]
    # Then it is created by the stack, named as API Gateway names it, with the configured retention
    assert len(groups) == 1
    name = groups[0]["LogGroupName"]["Fn::Join"][1]
    assert name[0] == "API-Gateway-Execution-Logs_" and name[1] == {"Ref": synth.logical_id(synth.stack.api.api)}
    assert name[-1] == "/v1" or name[-2:] == ["/", "v1"]
    assert groups[0]["RetentionInDays"] == 90


def test_one_invoke_permission_scoped_to_this_api(synth):
    # Given the Lambda permissions granted to API Gateway
    permissions = [
        p["Properties"]
        for p in synth.resources("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert len(permissions) == 1
    props = permissions[0]
    # Then API Gateway may invoke the handler only through this REST API
    assert props["Principal"] == "apigateway.amazonaws.com"
    assert synth.logical_id(synth.stack.api.api) in json.dumps(props["SourceArn"])


def test_no_resource_policy_without_allowed_principals(synth):
    # Given the default config (allowedPrincipals empty)
    _, api = synth.only("AWS::ApiGateway::RestApi")
    # Then the REST API has no resource policy (IAM authorization alone governs access)
    assert "Policy" not in api["Properties"]
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


def test_resource_policy_admits_only_the_allowed_principals(restricted_synth):
    # Given allowedPrincipals = one role ARN and one account id
    _, api = restricted_synth.only("AWS::ApiGateway::RestApi")
    statements = {s["Sid"]: s for s in api["Properties"]["Policy"]["Statement"]}
    # Then they are allowed to invoke ...
    allow = statements["AllowListedPrincipals"]
    assert allow["Effect"] == "Allow"
    assert allow["Action"] == "execute-api:Invoke"
    principals = json.dumps(allow["Principal"])
    assert "arn:aws:iam::111122223333:role/mturk-ops" in principals
    assert "444455556666" in principals
    # ... and every other principal (even of this account) is explicitly denied
    deny = statements["DenyEveryoneElse"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "execute-api:Invoke"
    assert deny["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": ["arn:aws:iam::111122223333:role/mturk-ops"]},
        "StringNotEquals": {"aws:PrincipalAccount": ["444455556666"]},
    }


def test_api_url_is_an_output(synth):
    # Given the synthesized stack's outputs
    outputs = synth.json["Outputs"]
    # When / Then the stack exports the API URL once (no duplicate RestApi endpoint output)
    assert "ApiUrl" in outputs
    assert not [name for name in outputs if name.startswith("DecisionApiRestApiEndpoint")]
    synth.template.has_output("ApiUrl", {"Value": Match.object_like({"Fn::Join": Match.any_value()})})
