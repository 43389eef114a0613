"""Least privilege: no wildcard actions, '*' resources only where unavoidable, exact grants."""

from __future__ import annotations

import json
from typing import Any, Iterator

# Actions that have no resource-level permissions and therefore may use Resource "*".
RESOURCE_STAR_ALLOWED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _identity_statements(synth) -> Iterator[tuple[str, dict]]:
    """Statements of IAM policies (inline and managed) and role inline policies."""
    for logical_id, resource in synth.json["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in props["PolicyDocument"]["Statement"]:
                yield logical_id, statement
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement


def _function_statements(synth) -> list[dict]:
    role_id = synth.logical_id(synth.stack.api.function.role)
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    assert len(policies) == 1
    return policies[0]


def test_no_statement_grants_a_wildcard_action(synth, restricted_synth):
    # Given every IAM statement of both synthesized variants
    for variant in (synth, restricted_synth):
        for logical_id, statement in _identity_statements(variant):
            for action in _as_list(statement.get("Action", [])):
                # Then no action is "*" or "service:*"
                assert action != "*" and not action.endswith(":*"), (logical_id, action)
            assert "NotAction" not in statement, logical_id


def test_resource_star_only_for_actions_without_resource_level_permissions(synth):
    # Given every Allow statement on Resource "*"
    for logical_id, statement in _identity_statements(synth):
        if statement["Effect"] == "Allow" and "*" in _as_list(statement.get("Resource", [])):
            # Then its actions are X-Ray trace writes only
            assert set(_as_list(statement["Action"])) <= RESOURCE_STAR_ALLOWED, (logical_id, statement)


def test_each_function_has_its_own_role_without_managed_policies(synth):
    # Given the API function's role
    role_id = synth.logical_id(synth.stack.api.function.role)
    role = synth.json["Resources"][role_id]["Properties"]
    # Then only Lambda can assume it and no AWS-managed policy is attached
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]
    assert "ManagedPolicyArns" not in role


def test_api_function_grants_are_exactly_the_contract(synth):
    # Given the API function's policy statements
    statements = _function_statements(synth)
    by_actions = {tuple(sorted(_as_list(s["Action"]))): s for s in statements}
    store, secret = synth.stack.audit_store, synth.stack.secret
    audit_id = synth.logical_id(store.audit_table)
    # Then the audit table and its three indexes get Put/Update/Get/Query, named one by one
    audit = by_actions[("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")]
    resources = json.dumps(audit["Resource"])
    assert audit_id in resources
    for index in ("by-worker", "by-hit", "by-pending"):
        assert f"/index/{index}" in resources
    assert "/index/*" not in resources
    # And the idempotency table gets Put/Get/Update/Delete
    idem = by_actions[("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")]
    assert idem["Resource"] == {"Fn::GetAtt": [synth.logical_id(store.idempotency_table), "Arn"]}
    # And the one secret may be read, and its key used only through Secrets Manager
    assert by_actions[("secretsmanager:GetSecretValue",)]["Resource"] == {"Ref": synth.logical_id(secret.secret)}
    secret_kms = by_actions[("kms:Decrypt",)]
    assert secret_kms["Resource"] == {"Fn::GetAtt": [synth.logical_id(secret.key), "Arn"]}
    assert "secretsmanager." in json.dumps(secret_kms["Condition"]["StringEquals"]["kms:ViaService"])
    # And the table key is usable only through DynamoDB
    table_kms = by_actions[("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")]
    assert table_kms["Resource"] == {"Fn::GetAtt": [synth.logical_id(store.key), "Arn"]}
    assert "dynamodb." in json.dumps(table_kms["Condition"]["StringEquals"]["kms:ViaService"])
    # And logs go to its own log group only
    logs = by_actions[("logs:CreateLogStream", "logs:PutLogEvents")]
    assert logs["Resource"]["Fn::GetAtt"][1] == "Arn"
    # And nothing else
    assert len(statements) == 7
