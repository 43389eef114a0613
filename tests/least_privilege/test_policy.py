"""The evaluator's IAM semantics and the call → request mapping, on small hand-written templates (no AWS)."""
from __future__ import annotations

import pytest

from tests.least_privilege import policy
from tests.least_privilege.policy import Request, Statement, evaluate, evaluate_conditions, matches

ROLE_ARN = f"arn:aws:iam::{policy.ACCOUNT}:role/Fn"
TABLE_ARN = f"arn:aws:dynamodb:{policy.REGION}:{policy.ACCOUNT}:table/audit-local"


def request(action: str, resource: str, **context) -> Request:
    base = {**policy.base_context(ROLE_ARN, None), **context}
    return Request(action, resource, policy._frozen(base), 0)


def allow(actions, resources, conditions=None) -> Statement:
    return Statement("P#0", "Allow", tuple(actions), (), tuple(resources), (), conditions)


def deny(actions, resources, conditions=None, principal=None) -> Statement:
    return Statement("P#1", "Deny", tuple(actions), (), tuple(resources), (), conditions, principal)


def template(role_statements: list[dict], extra: dict | None = None) -> dict:
    """A template with one function (handler a.b.handler), its role, one KMS-encrypted table with an index,
    a secret under its own key, a queue and a bus; the function's environment names them all."""
    arn = lambda logical_id: {"Fn::GetAtt": [logical_id, "Arn"]}
    root = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}
    key_policy = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}]}
    resources = {
        "Key1234ABCD": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": key_policy}},
        "SecretKeyFFFF0000": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": key_policy}},
        "Table0000AAAA": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn("Key1234ABCD")}}},
        "Secret1111BBBB": {"Type": "AWS::SecretsManager::Secret", "Properties": {"KmsKeyId": arn("SecretKeyFFFF0000")}},
        "Queue2222CCCC": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Bus3333DDDD": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "bus"}},
        "Role4444EEEE": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Policy5555FFFF": {"Type": "AWS::IAM::Policy", "Properties": {
            "Roles": [{"Ref": "Role4444EEEE"}], "PolicyDocument": {"Statement": role_statements}}},
        "Fn6666AAAA": {"Type": "AWS::Lambda::Function", "Properties": {
            "Handler": "a.b.handler", "Role": arn("Role4444EEEE"), "Environment": {"Variables": {
                "TABLE": {"Ref": "Table0000AAAA"}, "SECRET": {"Ref": "Secret1111BBBB"},
                "QUEUE": {"Ref": "Queue2222CCCC"}, "BUS": {"Ref": "Bus3333DDDD"}, "LEVEL": "INFO"}}}},
        **(extra or {}),
    }
    return {"Resources": resources}


STACK_ENV = {"TABLE": "audit-local", "SECRET": "keys-local", "QUEUE": "http://127.0.0.1:1/123456789012/work-local",
             "BUS": "bus-local", "UNUSED": "x"}
SECRET_ARNS = {"keys-local": f"arn:aws:secretsmanager:{policy.REGION}:{policy.ACCOUNT}:secret:keys-local-AbCdEf"}


def analyse(statements: list[dict], calls: list[dict], extra: dict | None = None) -> policy.FunctionReport:
    raw = template(statements, extra)
    links = policy.local_links(raw, STACK_ENV, {"a.b:handler": "fn"}, {})
    model = policy.TemplateModel(raw, links, SECRET_ARNS, {"a.b:handler": "fn"})
    return policy.analyse_function(model.roles["fn"], calls, model)


TABLE = {"Fn::GetAtt": ["Table0000AAAA", "Arn"]}
DECRYPT_VIA_DYNAMODB = {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["Key1234ABCD", "Arn"]},
                        "Condition": {"StringEquals": {"kms:ViaService": {
                            "Fn::Join": ["", ["dynamodb.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}}}


def test_wildcards_span_separators_and_actions_ignore_case():
    # When / Then
    assert matches("arn:aws:dynamodb:*:*:table/audit*", f"{TABLE_ARN}/index/by-hit")
    assert matches("arn:aws:sqs:us-east-1:00000000000?:q", "arn:aws:sqs:us-east-1:000000000000:q")
    assert not matches("arn:aws:sqs:us-east-1:00000000000?:q", "arn:aws:sqs:us-east-1:0000000000000:q")
    assert policy.action_matches("DynamoDB:get*", "dynamodb:GetItem")
    assert not matches("Table/X", "table/X")  # resources are case-sensitive


def test_an_allow_is_needed_and_an_explicit_deny_wins():
    # Given
    get = request("dynamodb:GetItem", TABLE_ARN)
    # When / Then
    assert not evaluate(get, [], [], ROLE_ARN).allowed
    assert evaluate(get, [allow(["dynamodb:GetItem"], [TABLE_ARN])], [], ROLE_ARN).allowed
    decision = evaluate(get, [allow(["dynamodb:*"], ["*"]), deny(["dynamodb:Get*"], [TABLE_ARN])], [], ROLE_ARN)
    assert not decision.allowed and decision.denied_by
    # A resource policy's Deny applies to the role too (here: everyone, over plain HTTP only)
    insecure = deny(["dynamodb:*"], ["*"], {"Bool": {"aws:SecureTransport": "false"}}, principal="*")
    assert evaluate(get, [allow(["dynamodb:GetItem"], [TABLE_ARN])], [insecure], ROLE_ARN).allowed
    assert not evaluate(request("dynamodb:GetItem", TABLE_ARN, **{"aws:SecureTransport": "false"}),
                        [allow(["dynamodb:GetItem"], [TABLE_ARN])], [insecure], ROLE_ARN).allowed


def test_conditions_on_modeled_keys_are_evaluated_with_iams_missing_key_rules():
    # Given
    context = {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}
    # When / Then
    assert evaluate_conditions({"StringEquals": {"kms:ViaService": ["sqs.us-east-1.amazonaws.com",
                                                                    "dynamodb.us-east-1.amazonaws.com"]}},
                               context).holds is True
    assert evaluate_conditions({"StringLike": {"kms:ViaService": "sqs.*"}}, context).holds is False
    # aws:SourceArn is absent from a function's own calls: a positive test fails, a negated one holds
    assert evaluate_conditions({"ArnEquals": {"aws:SourceArn": "arn:aws:events:*"}}, context).holds is False
    assert evaluate_conditions({"ArnNotEquals": {"aws:SourceArn": "arn:aws:events:*"}}, context).holds is True
    assert evaluate_conditions({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}, context).holds is True
    assert evaluate_conditions({"Null": {"aws:SourceArn": "true"}}, context).holds is True


def test_a_condition_on_an_unmodeled_key_is_reported_and_decided_conservatively():
    # Given
    get = request("dynamodb:GetItem", TABLE_ARN)
    vpc = {"StringEquals": {"aws:SourceVpce": "vpce-1"}}
    # When
    decision = evaluate(get, [allow(["dynamodb:GetItem"], [TABLE_ARN], vpc)], [], ROLE_ARN)
    # Then
    assert not decision.allowed and decision.unevaluable  # an Allow that may not apply does not count
    # And with the condition on a Deny instead
    decision = evaluate(get, [allow(["dynamodb:GetItem"], [TABLE_ARN]), deny(["*"], ["*"], vpc)], [], ROLE_ARN)
    assert not decision.allowed and decision.denied_by  # a Deny that may apply does


def test_transact_write_items_is_authorized_item_by_item_with_the_table_keys_decrypt():
    # Given
    call = {"service": "dynamodb", "operation": "TransactWriteItems",
            "params": {"TransactItems": [["Put", "audit-local"], ["Update", "audit-local"],
                                         ["ConditionCheck", "audit-local"]]}}
    granted = [{"Effect": "Allow", "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"], "Resource": TABLE},
               DECRYPT_VIA_DYNAMODB]
    # When
    report = analyse(granted, [call])
    # Then
    actions = [(d.request.action, d.allowed) for d in report.decisions if not d.request.via]
    assert actions == [("dynamodb:PutItem", True), ("dynamodb:UpdateItem", True),
                       ("dynamodb:ConditionCheckItem", False)]
    assert all(d.allowed and d.request.action == "kms:Decrypt" for d in report.kms_decisions)
    assert len(report.kms_decisions) == 3


def test_a_table_under_a_customer_managed_key_needs_the_key_grant_through_dynamodb():
    # Given
    call = {"service": "dynamodb", "operation": "GetItem", "params": {"TableName": "audit-local"}}
    get = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}
    # When
    [kms] = analyse([get], [call]).kms_decisions
    # Then
    assert not kms.allowed and kms.request.action == "kms:Decrypt"
    # And only a grant through DynamoDB is enough
    via_secrets = {**DECRYPT_VIA_DYNAMODB, "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.x"}}}
    assert not analyse([get, via_secrets], [call]).kms_decisions[0].allowed
    assert analyse([get, DECRYPT_VIA_DYNAMODB], [call]).kms_decisions[0].allowed


def test_a_key_whose_policy_does_not_delegate_to_iam_refuses_even_a_granted_caller():
    # Given
    call = {"service": "dynamodb", "operation": "GetItem", "params": {"TableName": "audit-local"}}
    get = {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}
    closed = {"Key1234ABCD": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*",
         "Resource": "*"}]}}}}
    # When
    report = analyse([get, DECRYPT_VIA_DYNAMODB], [call], closed)
    # Then
    assert report.key_policy_refusals and not report.kms_decisions[0].allowed


def test_an_index_query_names_the_index_and_item_actions_on_an_index_are_inert():
    # Given
    call = {"service": "dynamodb", "operation": "Query", "params": {"TableName": "audit-local", "IndexName": "by-hit"}}
    index = {"Fn::Join": ["", [TABLE, "/index/by-hit"]]}
    granted = [{"Effect": "Allow", "Action": ["dynamodb:Query", "dynamodb:PutItem"], "Resource": [TABLE, index]},
               DECRYPT_VIA_DYNAMODB]
    # When
    report = analyse(granted, [call])
    # Then
    assert report.decisions[0].request.resource == f"{TABLE_ARN}/index/by-hit" and report.decisions[0].allowed
    assert {(g.action, g.label) for g in report.inert_grants} == {("dynamodb:PutItem", "Table/index/by-hit")}
    assert {(g.action, g.label) for g in report.unexercised} == {("dynamodb:Query", "Table"),
                                                                  ("dynamodb:PutItem", "Table")}


@pytest.mark.parametrize("call,action,resource", [
    ({"service": "sqs", "operation": "SendMessageBatch",
      "params": {"QueueUrl": "http://127.0.0.1:1/123456789012/work-local", "EntryCount": 3}},
     "sqs:SendMessage", f"arn:aws:sqs:{policy.REGION}:{policy.ACCOUNT}:work-local"),
    ({"service": "secretsmanager", "operation": "GetSecretValue", "params": {"SecretId": "keys-local"}},
     "secretsmanager:GetSecretValue", SECRET_ARNS["keys-local"]),
    ({"service": "events", "operation": "PutEvents",
      "params": {"Entries": [{"EventBusName": "bus-local", "Source": "s", "DetailType": "d"}]}},
     "events:PutEvents", f"arn:aws:events:{policy.REGION}:{policy.ACCOUNT}:event-bus/bus-local"),
    ({"service": "dynamodb", "operation": "BatchWriteItem",
      "params": {"RequestItems": {"audit-local": ["PutRequest"]}}},
     "dynamodb:BatchWriteItem", TABLE_ARN),
])
def test_a_call_is_authorized_as_its_iam_action_on_its_resources_arn(call, action, resource):
    # Given
    raw = template([])
    model = policy.TemplateModel(raw, policy.local_links(raw, STACK_ENV, {"a.b:handler": "fn"}, {}), SECRET_ARNS,
                                 {"a.b:handler": "fn"})
    # When
    direct = [r for r in policy.requests_for(call, 0, model, ROLE_ARN) if not r.via]
    # Then
    assert [(r.action, r.resource) for r in direct] == [(action, resource)]


def test_the_template_environment_links_local_names_and_configures_each_function_as_the_template_does():
    # Given
    raw = template([])
    # When
    links = policy.local_links(raw, STACK_ENV, {"a.b:handler": "fn"}, {})
    # Then
    assert links == {"Table0000AAAA": "audit-local", "Secret1111BBBB": "keys-local",
                     "Queue2222CCCC": STACK_ENV["QUEUE"], "Bus3333DDDD": "bus-local"}
    model = policy.TemplateModel(raw, links, SECRET_ARNS, {"a.b:handler": "fn"})
    assert model.resources["Queue2222CCCC"].arn.endswith(":work-local")
    assert model.resources["Secret1111BBBB"].arn == SECRET_ARNS["keys-local"]
    # A stack variable the template does not give the function is emptied; the template's literals are used
    assert policy.function_environment(model.roles["fn"], STACK_ENV) == {"UNUSED": "", "LEVEL": "INFO"}
    # Two functions whose variables name one template resource with two local names: refused, named
    other = {"Type": "AWS::Lambda::Function", "Properties": {
        "Handler": "c.d.handler", "Role": {"Fn::GetAtt": ["Role4444EEEE", "Arn"]},
        "Environment": {"Variables": {"OTHER": {"Ref": "Table0000AAAA"}}}}}
    with pytest.raises(ValueError, match="Table0000AAAA: audit-local and another-table"):
        policy.local_links({"Resources": {**raw["Resources"], "Fn7777BBBB": other}},
                           {**STACK_ENV, "OTHER": "another-table"}, {"a.b:handler": "fn", "c.d:handler": "fn2"}, {})
