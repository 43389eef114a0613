"""The preflight of `make deploy` (infra/preflight.py): each check over a template and stubbed account facts.

The template is the session's real synthesized one (`synth`, cdk.json's context), copied and set to what
each case needs (reservations, an alarm e-mail, a resource policy, a production endpoint, the API Gateway
account resource) so that the tests do not depend on the stack's current defaults, plus small hand-made
dicts for edge cases. No test calls AWS: the account facts are stubbed, and the adapter runs against moto
and a fake Lambda client (moto has no `get_account_settings`).
"""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import preflight
from infra.preflight import (
    OK,
    STOP,
    WARN,
    AccountFacts,
    Options,
    StackTemplate,
    bootstrap_requirement,
    check_alarm_email,
    check_api_access,
    check_apigateway_logging,
    check_bootstrap,
    check_lambda_concurrency,
    check_layers,
    external_layers,
    load_stacks,
    parse_cdk_opts,
    read_account_facts,
    run_checks,
)

ACCOUNT = "111122223333"
REGION = "us-east-1"
STACK = "MTurkDecisions"
OWN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-DecisionApiRestApiCloudWatchRole-1A2B3C"
FOREIGN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/apigateway-cloudwatch-logs"
# The reservations the stack used to default to (-c apiReservedConcurrency=10 workerReservedConcurrency=1
# sweeperReservedConcurrency=1), by handler module.
OLD_DEFAULT_RESERVATIONS = {
    "mturk_decisions.handlers.api": 10,
    "mturk_decisions.handlers.batch_worker": 1,
    "mturk_decisions.handlers.scheduler": 1,
}


# ---- givens ---------------------------------------------------------------------------------------
def healthy_account(**changes: Any) -> AccountFacts:
    """An account where every check passes: big quota, recent bootstrap, an API Gateway role of this stack."""
    values: dict[str, Any] = dict(
        account_id=ACCOUNT,
        caller_arn=f"arn:aws:iam::{ACCOUNT}:user/deployer",
        region=REGION,
        region_source="AWS configuration",
        concurrency_limit=1000,
        unreserved_concurrency=1000,
        bootstrap_version=21,
        apigateway_role_arn=OWN_ROLE,
    )
    values.update(changes)
    return AccountFacts(**values)


def stack_of(template: dict[str, Any], name: str = STACK) -> StackTemplate:
    return StackTemplate(name=name, template=template)


def with_reservations(template: dict[str, Any], by_module: dict[str, int]) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    for resource in changed["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        props.pop("ReservedConcurrentExecutions", None)
        module = props.get("Handler", "").rsplit(".", 1)[0]
        if module in by_module:
            props["ReservedConcurrentExecutions"] = by_module[module]
    return changed


def with_endpoint(template: dict[str, Any], endpoint: str) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    for resource in changed["Resources"].values():
        variables = (resource.get("Properties", {}).get("Environment") or {}).get("Variables") or {}
        if resource["Type"] == "AWS::Lambda::Function" and "MTURK_ENDPOINT" in variables:
            variables["MTURK_ENDPOINT"] = endpoint
    return changed


def with_apigateway_account(template: dict[str, Any], present: bool) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    resources = changed["Resources"]
    for logical_id in [k for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Account"]:
        del resources[logical_id]
    if present:
        resources["DecisionApiRestApiAccountC4569A50"] = {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["DecisionApiRestApiCloudWatchRole4290D5A1", "Arn"]}},
        }
    return changed


# The resource policy DecisionApi synthesizes for allowedPrincipals: the listed principals, and a Deny for the rest.
DENY_OTHERS_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowListedPrincipals", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ops"},
         "Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
        {"Sid": "DenyEveryoneElse", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "execute-api:Invoke",
         "Resource": "execute-api:/*",
         "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:role/ops"]}}},
    ],
}


def with_policy(template: dict[str, Any], policy: dict[str, Any] | None) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    for resource in changed["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::RestApi":
            resource["Properties"].pop("Policy", None)
            if policy is not None:
                resource["Properties"]["Policy"] = policy
    return changed


def without_policy(template: dict[str, Any]) -> dict[str, Any]:
    return with_policy(template, None)


def with_alarm_email(template: dict[str, Any], address: str | None) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    resources = changed["Resources"]
    for logical_id in [k for k, v in resources.items() if v["Type"] == "AWS::SNS::Subscription"]:
        del resources[logical_id]
    if address:
        topic = next(k for k, v in resources.items() if v["Type"] == "AWS::SNS::Topic")
        resources["OperationsAlarmTopicEmailSubscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "email", "TopicArn": {"Ref": topic}, "Endpoint": address},
        }
    return changed


def with_stage_logging(template: dict[str, Any]) -> dict[str, Any]:
    """The stage logs INFO execution logs and access logs, as DecisionApi configures it."""
    changed = copy.deepcopy(template)
    for resource in changed["Resources"].values():
        if resource["Type"] == "AWS::ApiGateway::Stage":
            resource["Properties"]["MethodSettings"] = [{"HttpMethod": "*", "ResourcePath": "/*", "LoggingLevel": "INFO"}]
            resource["Properties"]["AccessLogSetting"] = {"DestinationArn": "arn:aws:logs:us-east-1:1:log-group:x"}
    return changed


def ready_for_production(template: dict[str, Any]) -> dict[str, Any]:
    """No reservation, an alarm e-mail, a restricting policy, the API Gateway role left to the account, and
    only the bootstrap rule (a synth without network access adds a refusal for its placeholder layer)."""
    ready = with_apigateway_account(
        with_policy(with_alarm_email(with_reservations(template, {}), "ops@example.com"), DENY_OTHERS_POLICY),
        present=False,
    )
    ready["Rules"] = {k: v for k, v in (ready.get("Rules") or {}).items() if k == "CheckBootstrapVersion"}
    return ready


def one_function(reserved: int | None = None, handler: str = "other.handler", endpoint: str = "sandbox") -> dict:
    props: dict[str, Any] = {"Handler": handler, "Environment": {"Variables": {"MTURK_ENDPOINT": endpoint}}}
    if reserved is not None:
        props["ReservedConcurrentExecutions"] = reserved
    return {"Resources": {"ExtraFunction1234ABCD": {"Type": "AWS::Lambda::Function", "Properties": props}}}


def levels(findings: list[preflight.Finding]) -> list[str]:
    return [f.level for f in findings]


def text(findings: list[preflight.Finding]) -> str:
    return "\n".join(f.line() for f in findings)


# ---- Lambda concurrency -----------------------------------------------------------------------------
def test_given_quota_10_and_the_old_default_reservations_when_checked_then_it_stops_naming_each_option(synth):
    # Given
    stack = stack_of(with_reservations(synth.json, OLD_DEFAULT_RESERVATIONS))

    # When
    findings = check_lambda_concurrency(stack, healthy_account(concurrency_limit=10, unreserved_concurrency=10), Options())

    # Then
    assert levels(findings) == [STOP]
    message = text(findings)
    assert "reserves 12" in message and "quota in us-east-1 is 10" in message
    for key in ("apiReservedConcurrency=10", "workerReservedConcurrency=1", "sweeperReservedConcurrency=1"):
        assert key in message
    assert '-c apiReservedConcurrency=none -c workerReservedConcurrency=none -c sweeperReservedConcurrency=none' in message
    assert "this account can reserve nothing" in message


def test_given_quota_1000_and_the_same_reservations_when_checked_then_it_passes(synth):
    # Given
    stack = stack_of(with_reservations(synth.json, OLD_DEFAULT_RESERVATIONS))

    # When
    findings = check_lambda_concurrency(stack, healthy_account(), Options())

    # Then
    assert levels(findings) == [OK]
    assert "988 stay unreserved" in findings[0].message


def test_given_other_functions_hold_most_of_the_quota_when_checked_then_it_stops_and_says_how_much_fits(synth):
    # Given
    stack = stack_of(with_reservations(synth.json, OLD_DEFAULT_RESERVATIONS))
    # 1000 - 895 reserved elsewhere = 105 unreserved; 12 more would leave 93 < 100.
    facts = healthy_account(concurrency_limit=1000, unreserved_concurrency=105)

    # When
    findings = check_lambda_concurrency(stack, facts, Options())

    # Then
    assert levels(findings) == [STOP]
    assert "895 already reserved by other functions" in findings[0].message
    assert "reservations may total at most 5" in findings[0].fix


def test_given_an_update_when_checked_then_the_stacks_current_reservations_count_as_available(synth):
    # Given
    stack = stack_of(with_reservations(synth.json, OLD_DEFAULT_RESERVATIONS))
    # 880 reserved elsewhere, 12 by this stack's deployed functions: 108 unreserved now.
    facts = healthy_account(unreserved_concurrency=108, stack_reserved_concurrency=12)

    # When / Then
    assert levels(check_lambda_concurrency(stack, facts, Options())) == [OK]
    assert levels(check_lambda_concurrency(stack, healthy_account(unreserved_concurrency=108), Options())) == [STOP]


def test_given_a_reservation_without_a_known_option_when_checked_then_the_stop_names_the_function():
    # When
    findings = check_lambda_concurrency(stack_of(one_function(reserved=5)), healthy_account(
        concurrency_limit=10, unreserved_concurrency=10), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "ExtraFunction1234ABCD" in findings[0].fix and "infra/config.py" in findings[0].fix


def test_given_no_reservation_when_checked_on_a_quota_of_10_then_it_passes(synth):
    # Given
    stack = stack_of(with_reservations(synth.json, {}))

    # When
    findings = check_lambda_concurrency(stack, healthy_account(concurrency_limit=10, unreserved_concurrency=10), Options())

    # Then
    assert levels(findings) == [OK]
    assert "no function reserves" in findings[0].message


def test_given_the_lambda_settings_cannot_be_read_when_checked_then_it_warns_instead_of_stopping(synth):
    # Given
    stack = stack_of(with_reservations(synth.json, OLD_DEFAULT_RESERVATIONS))
    facts = healthy_account(concurrency_limit=None, errors={"lambda": "AccessDeniedException: not allowed"})

    # When
    findings = check_lambda_concurrency(stack, facts, Options())

    # Then
    assert levels(findings) == [WARN]
    assert "AccessDeniedException" in findings[0].message


# ---- bootstrap ------------------------------------------------------------------------------------
def test_given_the_synthesized_template_when_read_then_it_needs_bootstrap_6_from_the_default_qualifier(synth):
    # Given the synthesized stack
    # When / Then
    assert bootstrap_requirement(stack_of(synth.json)) == ("/cdk-bootstrap/hnb659fds/version", 6)


def test_given_no_bootstrap_parameter_when_checked_then_it_stops_with_make_bootstrap(synth):
    # Given the synthesized stack
    # When
    findings = check_bootstrap(stack_of(synth.json), healthy_account(bootstrap_version=None), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "not bootstrapped" in findings[0].message and "/cdk-bootstrap/hnb659fds/version" in findings[0].message
    assert "make bootstrap" in findings[0].fix


def test_given_an_old_bootstrap_stack_when_checked_then_it_stops_with_make_bootstrap(synth):
    # Given the synthesized stack
    # When
    findings = check_bootstrap(stack_of(synth.json), healthy_account(bootstrap_version=5), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "version 5" in findings[0].message and "needs 6" in findings[0].message
    assert "make bootstrap" in findings[0].fix


def test_given_a_recent_bootstrap_stack_when_checked_then_it_passes(synth):
    # Given the synthesized stack
    # When / Then
    assert levels(check_bootstrap(stack_of(synth.json), healthy_account(bootstrap_version=6), Options())) == [OK]


def test_given_a_custom_qualifier_in_the_template_when_read_then_that_parameter_is_checked():
    # Given
    template = {
        "Parameters": {"BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>",
                                            "Default": "/cdk-bootstrap/team42/version"}},
        "Rules": {"CheckBootstrapVersion": {"Assertions": [
            {"Assert": {"Fn::Not": [{"Fn::Contains": [["1", "2", "3", "4", "5", "6", "7"], {"Ref": "BootstrapVersion"}]}]}}
        ]}},
        "Resources": {},
    }

    # When / Then
    assert bootstrap_requirement(stack_of(template)) == ("/cdk-bootstrap/team42/version", 8)
    findings = check_bootstrap(stack_of(template), healthy_account(bootstrap_version=7), Options())
    assert levels(findings) == [STOP] and "team42" in findings[0].message


def test_given_a_template_without_bootstrap_rule_when_read_then_the_context_qualifier_names_the_parameter():
    # When
    parameter, required = bootstrap_requirement(stack_of({"Resources": {}}), {"@aws-cdk/core:bootstrapQualifier": "abc"})

    # Then
    assert (parameter, required) == ("/cdk-bootstrap/abc/version", None)


def test_given_the_parameter_cannot_be_read_when_checked_then_it_warns(synth):
    # Given
    facts = healthy_account(bootstrap_version=None, errors={"bootstrap": "AccessDeniedException: ssm:GetParameter"})

    # When / Then
    assert levels(check_bootstrap(stack_of(synth.json), facts, Options())) == [WARN]


# ---- alarm e-mail ---------------------------------------------------------------------------------
def test_given_no_alarm_email_with_sandbox_mturk_when_checked_then_it_only_warns(synth):
    # Given
    stack = stack_of(with_alarm_email(with_endpoint(synth.json, "sandbox"), None))

    # When
    findings = check_alarm_email(stack, healthy_account(), Options())

    # Then
    assert levels(findings) == [WARN]
    assert "-c alarmEmail=" in findings[0].fix


def test_given_no_alarm_email_with_production_mturk_when_checked_then_it_stops_naming_alarm_email(synth):
    # Given
    stack = stack_of(with_alarm_email(with_endpoint(synth.json, "production"), None))

    # When
    findings = check_alarm_email(stack, healthy_account(), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "-c alarmEmail=" in findings[0].fix and "ALLOW_NO_ALARM_EMAIL=1" in findings[0].fix


def test_given_production_and_the_operator_accepts_no_email_when_checked_then_it_warns(synth):
    # Given
    stack = stack_of(with_alarm_email(with_endpoint(synth.json, "production"), None))

    # When / Then
    assert levels(check_alarm_email(stack, healthy_account(), Options(allow_no_alarm_email=True))) == [WARN]


def test_given_the_deployed_topic_has_confirmed_subscriptions_when_checked_then_it_passes(synth):
    # Given
    stack = stack_of(with_alarm_email(with_endpoint(synth.json, "production"), None))

    # When
    findings = check_alarm_email(stack, healthy_account(alarm_topic_subscriptions=("https",)), Options())

    # Then
    assert levels(findings) == [OK]


def test_given_alarm_email_in_the_template_when_checked_then_it_passes_and_names_the_address(synth):
    # Given
    stack = stack_of(with_alarm_email(with_endpoint(synth.json, "production"), "ops@example.com"))

    # When
    findings = check_alarm_email(stack, healthy_account(), Options())

    # Then
    assert levels(findings) == [OK]
    assert "ops@example.com" in findings[0].message


# ---- production access ----------------------------------------------------------------------------
def test_given_production_mturk_and_no_resource_policy_when_checked_then_it_stops_naming_both_options(synth):
    # Given
    stack = stack_of(without_policy(with_endpoint(synth.json, "production")))

    # When
    findings = check_api_access(stack, healthy_account(), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "MTURK_ENDPOINT=production" in findings[0].message
    assert "-c allowedPrincipals=" in findings[0].fix and "-c allowAnyPrincipalInAccount=true" in findings[0].fix


def test_given_the_production_url_as_endpoint_when_checked_then_it_is_production_too():
    # Given
    template = one_function(endpoint="https://mturk-requester.us-east-1.amazonaws.com")
    template["Resources"]["Api"] = {"Type": "AWS::ApiGateway::RestApi", "Properties": {}}

    # When / Then
    assert levels(check_api_access(stack_of(template), healthy_account(), Options())) == [STOP]


def test_given_production_and_allowed_principals_when_checked_then_the_deny_policy_passes(synth):
    # Given
    stack = stack_of(with_policy(with_endpoint(synth.json, "production"), DENY_OTHERS_POLICY))

    # When
    findings = check_api_access(stack, healthy_account(), Options())

    # Then
    assert levels(findings) == [OK]


def test_given_production_and_an_allow_only_policy_when_checked_then_it_still_stops():
    # Given
    policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                             "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}
    template = one_function(endpoint="production")
    template["Resources"]["Api"] = {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Policy": policy}}

    # When / Then
    assert levels(check_api_access(stack_of(template), healthy_account(), Options())) == [STOP]


def test_given_production_and_allow_any_principal_in_account_when_checked_then_it_warns(synth):
    # Given
    stack = stack_of(without_policy(with_endpoint(synth.json, "production")))

    # When
    findings = check_api_access(stack, healthy_account(), Options(allow_any_principal_in_account=True))

    # Then
    assert levels(findings) == [WARN]
    assert "allowAnyPrincipalInAccount=true" in findings[0].message and "allowedPrincipals" in findings[0].fix


def test_given_sandbox_mturk_without_policy_when_checked_then_it_passes(synth):
    # Given
    stack = stack_of(without_policy(with_endpoint(synth.json, "sandbox")))

    # When / Then
    assert levels(check_api_access(stack, healthy_account(), Options())) == [OK]


# ---- API Gateway account role -----------------------------------------------------------------------
def test_given_the_stack_creates_the_account_role_and_another_exists_when_checked_then_it_warns(synth):
    # Given
    stack = stack_of(with_apigateway_account(synth.json, present=True))

    # When
    findings = check_apigateway_logging(stack, healthy_account(apigateway_role_arn=FOREIGN_ROLE), Options())

    # Then
    assert levels(findings) == [WARN]
    assert FOREIGN_ROLE in findings[0].message
    assert "-c apiGatewayCloudWatchRole=false" in findings[0].fix


def test_given_the_stack_creates_the_account_role_and_the_existing_one_is_its_own_then_it_passes(synth):
    # Given
    stack = stack_of(with_apigateway_account(synth.json, present=True))

    # When / Then
    assert levels(check_apigateway_logging(stack, healthy_account(apigateway_role_arn=OWN_ROLE), Options())) == [OK]


def test_given_the_stack_creates_the_account_role_and_none_exists_then_it_passes(synth):
    # Given
    stack = stack_of(with_apigateway_account(synth.json, present=True))

    # When / Then
    assert levels(check_apigateway_logging(stack, healthy_account(apigateway_role_arn=None), Options())) == [OK]


def test_given_the_synthesized_stage_when_read_then_it_logs_to_cloudwatch_logs(synth):
    # Given the synthesized stack
    # When / Then
    assert any("execution logs (INFO)" in entry for entry in preflight.stage_logging(stack_of(synth.json)))


def test_given_the_stage_logs_without_a_role_anywhere_when_checked_then_it_stops_naming_the_option(synth):
    # Given
    stack = stack_of(with_stage_logging(with_apigateway_account(synth.json, present=False)))

    # When
    findings = check_apigateway_logging(stack, healthy_account(apigateway_role_arn=None), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "execution logs (INFO)" in findings[0].message and "access logs" in findings[0].message
    assert "-c apiGatewayCloudWatchRole=true" in findings[0].fix


def test_given_the_stage_logs_and_the_account_has_a_role_when_checked_then_it_passes(synth):
    # Given
    stack = stack_of(with_stage_logging(with_apigateway_account(synth.json, present=False)))

    # When / Then
    assert levels(check_apigateway_logging(stack, healthy_account(apigateway_role_arn=FOREIGN_ROLE), Options())) == [OK]


def test_given_no_api_logging_and_no_account_role_when_checked_then_it_passes():
    # When / Then
    assert levels(check_apigateway_logging(stack_of(one_function()), healthy_account(apigateway_role_arn=None),
                                           Options())) == [OK]


# ---- layers, credentials, all checks ---------------------------------------------------------------
def public_layer_template() -> dict[str, Any]:
    """A function with the public Powertools layer (env-agnostic ARN) and a layer of its own stack."""
    template = one_function()
    template["Resources"]["ExtraFunction1234ABCD"]["Properties"]["Layers"] = [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":lambda:", {"Ref": "AWS::Region"},
                           ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"]]},
        {"Ref": "LayersPynamoDBFB494ED7"},
    ]
    return template


def test_given_the_region_when_resolving_layers_then_only_the_public_layer_is_external():
    # When
    layers = external_layers(stack_of(public_layer_template()), healthy_account(region="eu-west-1"))

    # Then
    assert layers == {"arn:aws:lambda:eu-west-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-arm64:27"}


def test_given_a_missing_external_layer_when_checked_then_it_stops():
    # Given
    stack = stack_of(public_layer_template())
    missing = dict.fromkeys(external_layers(stack, healthy_account()), "ResourceNotFoundException")

    # When
    findings = check_layers(stack, healthy_account(missing_layers=missing), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "published in this region" in findings[0].fix and "AWSLambdaPowertoolsPythonV3" in findings[0].message


def test_given_a_rule_that_can_never_hold_when_checked_then_it_stops_with_the_rules_description():
    # Given
    marker = {"Ref": "LayersPowertoolsLayerNotBuilt1A2B3C4D"}
    template = {"Rules": {"LayersPowertoolsLayerBuilt": {"Assertions": [{
        "Assert": {"Fn::Not": [{"Fn::Equals": [marker, marker]}]},
        "AssertDescription": "The Powertools layer was not built (offline); synthesize with access to the index.",
    }]}}, "Resources": {}}

    # When
    findings = preflight.check_template_rules(stack_of(template), healthy_account(), Options())

    # Then
    assert levels(findings) == [STOP]
    assert "LayersPowertoolsLayerBuilt" in findings[0].message and "synthesize with access" in findings[0].message


def test_given_the_synthesized_bootstrap_rule_when_checked_then_it_is_not_a_refusal(synth):
    # Given
    # Only that rule: the template also carries a refusal when the layer was synthesized offline.
    stack = stack_of({"Rules": {"CheckBootstrapVersion": synth.json["Rules"]["CheckBootstrapVersion"]}, "Resources": {}})

    # When / Then
    assert levels(preflight.check_template_rules(stack, healthy_account(), Options())) == [OK]


@pytest.mark.parametrize(
    ("status", "level", "words"),
    [
        (None, OK, "first deploy"),
        ("UPDATE_COMPLETE", OK, "update of stack"),
        ("ROLLBACK_COMPLETE", WARN, "existingAuditTableName"),
        ("UPDATE_IN_PROGRESS", STOP, "wait"),
        ("UPDATE_ROLLBACK_FAILED", STOP, "continue-update-rollback --stack-name MTurkDecisions"),
    ],
)
def test_given_the_stacks_state_when_checked_then_it_says_whether_cdk_deploy_can_proceed(status, level, words):
    # Given a stack in the CloudFormation state `status`
    # When
    findings = preflight.check_stack_state(stack_of({"Resources": {}}), healthy_account(stack_status=status), Options())

    # Then
    assert levels(findings) == [level]
    assert words in findings[0].line()


def test_given_no_credentials_when_all_checks_run_then_only_the_credentials_stop_is_reported(synth):
    # Given
    facts = AccountFacts(region=REGION, errors={"credentials": "NoCredentialsError: Unable to locate credentials"})

    # When
    findings = run_checks(stack_of(synth.json), facts)

    # Then
    assert [(f.level, f.check) for f in findings] == [(STOP, "credentials")]


def test_given_a_stack_synthesized_for_another_account_when_checked_then_it_stops():
    # Given
    stack = StackTemplate(name=STACK, template={"Resources": {}}, environment=f"aws://444455556666/{REGION}")

    # When
    findings = run_checks(stack, healthy_account())

    # Then
    assert [(f.level, f.check) for f in findings] == [(STOP, "credentials")]
    assert "444455556666" in findings[0].message


def test_given_a_healthy_account_when_all_checks_run_on_a_production_ready_template_then_nothing_stops(synth):
    # Given the synthesized stack
    # When
    findings = run_checks(stack_of(ready_for_production(with_endpoint(synth.json, "production"))), healthy_account())

    # Then
    assert STOP not in levels(findings), text(findings)
    assert {f.check for f in findings} == {"credentials", "stack-state", "template-rules", "lambda-concurrency",
                                           "bootstrap", "alarm-email", "api-access", "apigateway-logging",
                                           "lambda-layers"}


def test_given_cdk_opts_when_parsed_then_context_pairs_and_the_profile_are_found():
    # When
    options = parse_cdk_opts(["-c", "alarmEmail=a@example.com", "--context=stackName=X", "-cfoo=a=b",
                              "--profile", "prod", "--require-approval", "never"])

    # Then
    assert options.context == {"alarmEmail": "a@example.com", "stackName": "X", "foo": "a=b"}
    assert options.profile == "prod"


# ---- the command: cdk.out + the AWS adapter against moto and a fake Lambda client --------------------
class FakeLambda:
    """What moto does not implement: get_account_settings (and the public layer lookups)."""

    def __init__(self, limit: int, unreserved: int) -> None:
        self.limit, self.unreserved = limit, unreserved

    def get_account_settings(self) -> dict:
        return {"AccountLimit": {"ConcurrentExecutions": self.limit, "UnreservedConcurrentExecutions": self.unreserved}}

    def get_layer_version_by_arn(self, Arn: str) -> dict:
        return {"LayerVersionArn": Arn}

    def get_function_concurrency(self, FunctionName: str) -> dict:
        return {}


class Session:
    """A boto3 session on moto whose Lambda client is the fake."""

    def __init__(self, fake_lambda: FakeLambda) -> None:
        self.session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        self.region_name = REGION
        self.fake_lambda = fake_lambda

    def client(self, name: str, region_name: str | None = None) -> Any:
        return self.fake_lambda if name == "lambda" else self.session.client(name, region_name=region_name)


def write_assembly(synth, outdir: Path, template: dict[str, Any]) -> Path:
    """A cdk.out with the synthesized manifest and `template` as the stack's template."""
    outdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(synth.outdir / "manifest.json", outdir / "manifest.json")
    (outdir / "cdk.json").write_text(json.dumps({"context": {"stackName": STACK}}))
    (outdir / f"{synth.stack.artifact_id}.template.json").write_text(json.dumps(template))
    return outdir


@pytest.fixture()
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value="21", Type="String"
        )
        yield


def run_main(outdir: Path, fake_lambda: FakeLambda, *extra: str, environ: dict | None = None) -> tuple[int, str]:
    out = io.StringIO()
    code = preflight.main([str(outdir), "--cdk-json", str(outdir / "cdk.json"), *extra], environ=environ or {},
                          session_factory=lambda profile: Session(fake_lambda), out=out)
    return code, out.getvalue()


def test_given_quota_10_when_make_deploy_runs_the_preflight_then_it_exits_1_before_cloudformation(synth, tmp_path, aws):
    # Given
    outdir = write_assembly(synth, tmp_path / "cdk.out", with_reservations(synth.json, OLD_DEFAULT_RESERVATIONS))

    # When
    code, output = run_main(outdir, FakeLambda(10, 10))

    # Then
    assert code == 1
    assert "STOP  lambda-concurrency" in output and "-c apiReservedConcurrency=none" in output
    assert "nothing was deployed" in output


def test_given_a_healthy_account_when_the_preflight_runs_then_it_passes(synth, tmp_path, aws):
    # Given
    boto3.client("apigateway", region_name=REGION).update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": FOREIGN_ROLE}]
    )
    outdir = write_assembly(synth, tmp_path / "cdk.out", ready_for_production(synth.json))

    # When
    code, output = run_main(outdir, FakeLambda(1000, 1000))

    # Then
    assert code == 0, output
    assert "OK    bootstrap           bootstrap version 21 (needs 6)" in output
    assert "preflight: passed" in output


def test_given_no_bootstrap_when_the_preflight_runs_then_it_says_run_make_bootstrap(synth, tmp_path, aws):
    # Given
    boto3.client("ssm", region_name=REGION).delete_parameter(Name="/cdk-bootstrap/hnb659fds/version")
    outdir = write_assembly(synth, tmp_path / "cdk.out", ready_for_production(synth.json))

    # When
    code, output = run_main(outdir, FakeLambda(1000, 1000))

    # Then
    assert code == 1
    assert "STOP  bootstrap" in output and "make bootstrap" in output


def test_given_production_and_allow_any_principal_in_cdk_opts_when_the_preflight_runs_then_it_does_not_stop_on_access(
    synth, tmp_path, aws
):
    # Given
    boto3.client("apigateway", region_name=REGION).update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": FOREIGN_ROLE}]
    )
    template = without_policy(with_endpoint(ready_for_production(synth.json), "production"))
    outdir = write_assembly(synth, tmp_path / "cdk.out", template)

    # When it runs without, then with allowAnyPrincipalInAccount=true
    stopped, before = run_main(outdir, FakeLambda(1000, 1000))
    allowed, after = run_main(outdir, FakeLambda(1000, 1000), "-c", "allowAnyPrincipalInAccount=true")

    # Then
    assert stopped == 1 and "STOP  api-access" in before
    assert allowed == 0 and "WARN  api-access" in after, after


def test_given_skip_preflight_when_run_then_nothing_is_read_and_it_says_so_loudly(tmp_path):
    # Given
    def no_session(profile):
        raise AssertionError("the skipped preflight must not touch AWS")

    out = io.StringIO()
    # When
    code = preflight.main([str(tmp_path)], environ={"SKIP_PREFLIGHT": "1"}, session_factory=no_session, out=out)

    # Then
    assert code == 0
    assert "PREFLIGHT SKIPPED" in out.getvalue()


def test_given_the_real_assembly_when_loaded_then_the_stack_and_its_bootstrap_needs_are_read(synth):
    # Given the synthesized stack
    # When
    [stack] = load_stacks(synth.outdir)

    # Then
    assert stack.name == synth.stack.stack_name
    assert stack.manifest_bootstrap_version == 6
    assert stack.template["Resources"].keys() == synth.json["Resources"].keys()


def test_given_moto_when_the_adapter_reads_the_account_then_it_finds_bootstrap_role_and_quota(synth, aws):
    # Given
    boto3.client("apigateway", region_name=REGION).update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": FOREIGN_ROLE}]
    )

    # When
    facts = read_account_facts(Session(FakeLambda(10, 10)), stack_of(synth.json), "/cdk-bootstrap/hnb659fds/version")

    # Then
    assert facts.errors == {}
    assert (facts.bootstrap_version, facts.apigateway_role_arn, facts.concurrency_limit) == (21, FOREIGN_ROLE, 10)
    assert facts.stack_status is None and facts.stack_reserved_concurrency == 0
