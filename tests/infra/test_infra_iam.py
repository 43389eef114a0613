"""Least privilege: no wildcard actions, '*' resources only where unavoidable, exact grants."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

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
    # Given the roles of every function of the service
    stack = synth.stack
    functions = (
        stack.api.function,
        stack.bulk.worker,
        stack.reversals.sweeper,
        stack.reversals.reconciler,
        stack.events.events_consumer,
        stack.events.notifications_consumer,
        stack.uploads.parser,
    )
    role_ids = {synth.logical_id(function.role) for function in functions}
    assert len(role_ids) == len(functions)
    assert len(synth.resources("AWS::Lambda::Function")) == len(functions)
    for role_id in role_ids:
        role = synth.json["Resources"][role_id]["Properties"]
        # Then only Lambda can assume each and no AWS-managed policy is attached
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
        ]
        assert "ManagedPolicyArns" not in role


def test_api_function_grants_are_exactly_the_contract(synth):
    # Given the API function's policy statements
    statements = synth.statements(synth.stack.api.function)
    by_actions = {tuple(sorted(_as_list(s["Action"]))): s for s in statements}
    store, secret = synth.stack.audit_store, synth.stack.secret
    audit_id = synth.logical_id(store.audit_table)
    # Then the audit table gets Put/Update/Get/Query (leases, records, histories), and Query on the two
    # indexes GET /decisions reads, named one by one (not by-pending: the reconciler's)
    audit = by_actions[("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")]
    assert audit["Resource"] == {"Fn::GetAtt": [audit_id, "Arn"]}
    queries = json.dumps(by_actions[("dynamodb:Query",)]["Resource"])
    assert "/index/by-worker" in queries and "/index/by-hit" in queries
    assert "/index/by-pending" not in queries and "/index/*" not in queries
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
    # And it may store a batch (rows, then META conditionally), mark it queued and read it back (no Scan,
    # no Delete) on the batch table only
    bulk = synth.stack.bulk
    batch = by_actions[("dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                        "dynamodb:UpdateItem")]
    assert batch["Resource"] == {"Fn::GetAtt": [synth.logical_id(bulk.table), "Arn"]}
    # And it may send chunks to the work queue (SendMessageBatch is authorized by sqs:SendMessage), and
    # nothing to the DLQ; the queue uses SQS-managed encryption, so no KMS grant comes with it
    send = by_actions[("sqs:SendMessage",)]
    assert send["Resource"] == {"Fn::GetAtt": [synth.logical_id(bulk.queue), "Arn"]}
    # And it may read, create and settle reversal schedules (confirm, cancel, `at`, provisional) on
    # the schedule table itself: no index query, no Scan, no Delete
    schedules = by_actions[("dynamodb:GetItem", "dynamodb:PutItem")]
    assert schedules["Resource"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.reversals.table), "Arn"]}
    # And put the service's events on the service's bus only
    assert by_actions[("events:PutEvents",)]["Resource"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.events.bus), "Arn"]
    }
    # And it may presign the PUT of an upload (S3 authorizes the upload as this role): PutObject on the
    # upload keys only, and the data key's GenerateDataKey only through S3 (the bucket is SSE-KMS)
    uploads = synth.stack.uploads
    put = by_actions[("s3:PutObject",)]
    assert put["Resource"] == {"Fn::Join": ["", [synth.arn(uploads.bucket), "/uploads/*"]]}
    upload_kms = by_actions[("kms:GenerateDataKey",)]
    assert upload_kms["Resource"] == {"Fn::GetAtt": [synth.logical_id(store.key), "Arn"]}
    assert "s3." in json.dumps(upload_kms["Condition"]["StringEquals"]["kms:ViaService"])
    # And nothing else (the batch and schedule tables share the data key, whose grant is already
    # there; MTurk is told the notifications queue URL, the function never sends to it)
    assert len(statements) == 14


def test_batch_worker_grants_are_exactly_what_it_calls(synth):
    # Given the batch worker's policy statements
    bulk, store, secret = synth.stack.bulk, synth.stack.audit_store, synth.stack.secret
    statements = synth.statements(bulk.worker)
    by_actions = {tuple(sorted(_as_list(s["Action"]))): s for s in statements}
    # Then it reads a chunk's items, records their outcomes and checks whether the batch is complete
    # in the batch table: no Put, BatchWrite, Scan or Delete
    batch = by_actions[("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem")]
    assert batch["Resource"] == {"Fn::GetAtt": [synth.logical_id(bulk.table), "Arn"]}
    # And it audits its decisions exactly as the API does (table and its three indexes)
    audit = by_actions[("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem")]
    assert synth.logical_id(store.audit_table) in json.dumps(audit["Resource"])
    table_kms = by_actions[("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")]
    assert table_kms["Resource"] == {"Fn::GetAtt": [synth.logical_id(store.key), "Arn"]}
    assert "dynamodb." in json.dumps(table_kms["Condition"])
    # And it reads the MTurk secret through Secrets Manager
    assert by_actions[("secretsmanager:GetSecretValue",)]["Resource"] == {"Ref": synth.logical_id(secret.secret)}
    assert by_actions[("kms:Decrypt",)]["Resource"] == {"Fn::GetAtt": [synth.logical_id(secret.key), "Arn"]}
    # And it consumes the work queue (what its event source mapping needs) and may send a continuation of
    # a chunk it could not finish in time to it, on that queue only
    consume = by_actions[
        (
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
            "sqs:SendMessage",
        )
    ]
    assert consume["Resource"] == {"Fn::GetAtt": [synth.logical_id(bulk.queue), "Arn"]}
    # And it announces "Batch Completed" and its decisions on the service's bus
    assert by_actions[("events:PutEvents",)]["Resource"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.events.bus), "Arn"]
    }
    # And it writes its own logs and traces; nothing else
    assert ("logs:CreateLogStream", "logs:PutLogEvents") in by_actions
    assert ("xray:PutTelemetryRecords", "xray:PutTraceSegments") in by_actions
    assert len(statements) == 9


def test_batch_worker_can_neither_use_the_idempotency_table_nor_send_to_another_queue(synth):
    # Given the batch worker's policy statements
    statements = synth.statements(synth.stack.bulk.worker)
    resources = json.dumps([s["Resource"] for s in statements])
    # Then the idempotency cache (an API concern) is out of its reach ...
    assert synth.logical_id(synth.stack.audit_store.idempotency_table) not in resources
    # ... it sends only to the work queue (a continuation always makes progress: at least one item per
    # invocation), never to the DLQ
    send = [s for s in statements if "sqs:SendMessage" in _as_list(s["Action"])]
    assert [s["Resource"] for s in send] == [{"Fn::GetAtt": [synth.logical_id(synth.stack.bulk.queue), "Arn"]}]
    assert synth.logical_id(synth.stack.bulk.dead_letter_queue) not in resources
    # ... and it has no Delete/Scan/PutItem on the batch table (rows are written once, by the API)
    batch_id = synth.logical_id(synth.stack.bulk.table)
    batch_actions = {a for s in statements if batch_id in json.dumps(s["Resource"]) for a in _as_list(s["Action"])}
    assert batch_actions == {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"}


def test_nobody_may_read_or_delete_from_the_dead_letter_queue_but_an_operator(synth):
    # Given every identity statement of the stack
    # When / Then none names the DLQ: it is drained or redriven
    # by an operator (console / StartMessageMoveTask), never by the service's functions
    dlq_id = synth.logical_id(synth.stack.bulk.dead_letter_queue)
    for logical_id, statement in _identity_statements(synth):
        assert dlq_id not in json.dumps(statement.get("Resource", [])), logical_id
