"""The recording hook of the execution environments (`local.lambda_env.record_aws_calls`): every AWS call of
every botocore client (boto3's, PynamoDB's own sessions, Powertools'), one JSON line each, naming resources
only; MTurk's calls are not recorded (the requester's keys authorize them, not the role)."""
from __future__ import annotations

import json
import os

import boto3

from local.moto_server import SerializedMotoServer
from local.runtime import ProcessEnvironments
from local.stack import free_port
from tests.least_privilege.handlers import PRIVATE


def test_every_call_of_every_client_is_recorded_by_resource_and_no_value_is(tmp_path):
    # Given a moto server with a table, a queue, a bus and a secret
    port = free_port()
    moto = SerializedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    url = f"http://127.0.0.1:{port}"
    try:
        clients = {name: boto3.client(name, region_name="us-east-1", endpoint_url=url)
                   for name in ("dynamodb", "sqs", "events", "secretsmanager")}
        clients["dynamodb"].create_table(TableName="recorded", BillingMode="PAY_PER_REQUEST",
                                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        queue = clients["sqs"].create_queue(QueueName="recorded")["QueueUrl"]
        clients["events"].create_event_bus(Name="recorded")
        clients["secretsmanager"].create_secret(Name="recorded", SecretString=PRIVATE[2])
        env = {**os.environ, "LOCAL_LAMBDA_LOG": "-", "LOCAL_AWS_CALL_LOG": str(tmp_path), "RECORDER_ENDPOINT": url,
               **{f"AWS_ENDPOINT_URL_{s}": url for s in ("DYNAMODB", "SQS", "EVENTBRIDGE", "SECRETS_MANAGER")}}
        # When a function's environment makes its calls
        with ProcessEnvironments("tests.least_privilege.handlers:aws_calls", env, concurrency=1,
                                 function_name="recorder") as environments:
            assert environments.invoke({"table": "recorded", "queue": queue, "secret": "recorded",
                                        "bus": "recorded"}) == {"ok": True}
    finally:
        moto.stop()
    # Then each is one line of <dir>/<function name>.jsonl, naming what it acts on
    text = (tmp_path / "recorder.jsonl").read_text()
    calls = [json.loads(line) for line in text.splitlines()]
    assert [(c["service"], c["operation"], c["params"]) for c in calls] == [
        ("dynamodb", "PutItem", {"TableName": "recorded"}),
        ("dynamodb", "PutItem", {"TableName": "recorded"}),  # PynamoDB's own session
        ("dynamodb", "TransactWriteItems", {"TransactItems": [["Put", "recorded"], ["Update", "recorded"]]}),
        ("dynamodb", "Query", {"TableName": "recorded"}),
        ("sqs", "SendMessageBatch", {"QueueUrl": queue, "EntryCount": 1}),
        ("events", "PutEvents", {"Entries": [{"EventBusName": "recorded", "Source": "s", "DetailType": "d"}]}),
        ("secretsmanager", "GetSecretValue", {"SecretId": "recorded"}),  # Powertools' provider
    ]
    assert all(c["region"] == "us-east-1" and c["pid"] for c in calls)
    # And no item attribute, message body or secret value is in it; MTurk's call is not
    assert not [value for value in PRIVATE if value in text]
    assert "mturk" not in text
