"""The REST API: IAM everywhere, validation, JSON gateway errors, logs, tracing, throttling."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

EXPECTED_ROUTES = {
    ("POST", "/assignments/{assignmentId}/reject"),
    ("POST", "/assignments/{assignmentId}/reverse"),
    ("POST", "/assignments/{assignmentId}/approve"),
    ("GET", "/assignments/{assignmentId}"),
    ("GET", "/decisions"),
    ("GET", "/openapi.json"),
    ("GET", "/swagger"),
}


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


def _routes(synth) -> dict[tuple[str, str], dict]:
    paths = _paths(synth)
    routes = {}
    for method in synth.resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        resource = props["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        routes[(props["HttpMethod"], path)] = props
    return routes


def test_every_route_of_the_handler_is_exposed_and_nothing_else(synth):
    # Given the synthesized API
    # When its methods are listed by (verb, path)
    routes = _routes(synth)
    # Then they are exactly the handler's routes: no ANY, no OPTIONS preflight
    assert set(routes) == EXPECTED_ROUTES


def test_every_method_requires_iam_sigv4_authorization(synth):
    # Given every method of the API (swagger/openapi included)
    methods = synth.resources("AWS::ApiGateway::Method")
    assert len(methods) == len(EXPECTED_ROUTES)
    # Then each one uses AWS_IAM, none is NONE/open, and there is no CORS preflight
    for logical_id, method in methods.items():
        props = method["Properties"]
        assert props["AuthorizationType"] == "AWS_IAM", logical_id
        assert props["HttpMethod"] != "OPTIONS", logical_id
    synth.template.resource_properties_count_is(
        "AWS::ApiGateway::Method", {"AuthorizationType": "NONE"}, 0
    )


def test_every_method_is_a_lambda_proxy_to_the_api_handler(synth):
    # Given the API handler function
    function_id = synth.logical_id(synth.stack.api.function)
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
    # Then every method uses it, and the assignment routes require the path parameter
    for (verb, path), props in _routes(synth).items():
        assert props["RequestValidatorId"] == {"Ref": validator_id}, (verb, path)
        if "{assignmentId}" in path:
            assert props["RequestParameters"] == {"method.request.path.assignmentId": True}


def test_post_bodies_are_validated_against_json_schema_models(synth):
    # Given the models and the POST routes
    models = {m["Properties"]["Name"]: (k, m["Properties"]) for k, m in synth.resources("AWS::ApiGateway::Model").items()}
    routes = _routes(synth)
    expected = {"reject": "RejectRequest", "reverse": "ReverseRequest", "approve": "ApproveRequest"}
    for action, model_name in expected.items():
        logical_id, model = models[model_name]
        # Then each POST validates application/json AND any other content type ($default) with its model
        request_models = routes[("POST", f"/assignments/{{assignmentId}}/{action}")]["RequestModels"]
        assert request_models == {"application/json": {"Ref": logical_id}, "$default": {"Ref": logical_id}}
        schema = model["Schema"]
        assert schema["type"] == "object"
        assert schema["properties"]["feedback"] == {"type": "string", "minLength": 1, "maxLength": 1024}
        assert schema["properties"]["reason"] == {"type": "string", "maxLength": 1000}
    # And only reject requires feedback
    assert models["RejectRequest"][1]["Schema"]["required"] == ["feedback"]
    assert "required" not in models["ReverseRequest"][1]["Schema"]
    assert "required" not in models["ApproveRequest"][1]["Schema"]


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


def test_api_gateway_can_write_execution_logs(synth):
    # Given the default config (apiGatewayCloudWatchRole=true)
    # Then the account-level API Gateway logging role is set
    synth.template.resource_count_is("AWS::ApiGateway::Account", 1)


def test_one_invoke_permission_scoped_to_this_api(synth):
    # Given the Lambda permissions
    _, permission = synth.only("AWS::Lambda::Permission")
    props = permission["Properties"]
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
    # Then the stack exports the API URL once (no duplicate RestApi endpoint output)
    outputs = synth.json["Outputs"]
    assert "ApiUrl" in outputs
    assert not [name for name in outputs if name.startswith("DecisionApiRestApiEndpoint")]
    synth.template.has_output("ApiUrl", {"Value": Match.object_like({"Fn::Join": Match.any_value()})})


def test_later_constructs_add_routes_with_the_same_rules(tmp_path):
    # Given the app (bundling skipped: only the API matters here)
    from aws_cdk import aws_apigateway as apigw
    from aws_cdk.assertions import Template

    from infra.application import build_app

    app, stack = build_app(context={"aws:cdk:bundling-stacks": []}, outdir=str(tmp_path), environ={})
    # When a later construct exposes the batch routes of the handler
    model = stack.api.add_json_model(
        "BatchRequest", apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT)
    )
    stack.api.add_route("POST", "/batches", body_model=model)
    stack.api.add_route("GET", "/batches/{batchId}")
    app.synth()  # the AwsSolutions plugin runs: the new methods must not need new acknowledgments
    # Then they are IAM-authorized, validated, and require their path parameter
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "AuthorizationType": "AWS_IAM", "RequestModels": Match.object_like({"$default": Match.any_value()})},
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "GET",
            "AuthorizationType": "AWS_IAM",
            "RequestParameters": {"method.request.path.batchId": True},
            "RequestValidatorId": Match.any_value(),
        },
    )
