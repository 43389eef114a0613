"""Uploaded batches (infra/constructs/batch_uploads.py): the bucket, its notification queue, the parser's grants."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.batch_uploads import upload_bucket_name

TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def test_the_upload_bucket_is_kms_encrypted_private_tls_only_and_expires_uploads_after_7_days(synth):
    # Given the upload bucket
    uploads = synth.stack.uploads
    resource = synth.resource(uploads.bucket)
    bucket = resource["Properties"]
    # Then it is encrypted with the stack's data key (S3 Bucket Key on) ...
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": synth.arn(synth.stack.audit_store.key)}
    assert rule["BucketKeyEnabled"] is True
    # ... public access is blocked and ACLs disabled; no versioning, no CORS (the CLI PUTs from Python)
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert "VersioningConfiguration" not in bucket and "CorsConfiguration" not in bucket
    # ... uploads expire after 7 days (incomplete multipart uploads after 1), and it goes with the stack
    [lifecycle] = bucket["LifecycleConfiguration"]["Rules"]
    assert (lifecycle["ExpirationInDays"], lifecycle["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]) == (7, 1)
    assert lifecycle["Status"] == "Enabled" and "Prefix" not in lifecycle
    assert resource["DeletionPolicy"] == "Delete"
    # And its policy refuses every request over plain HTTP
    [policy] = [p["Properties"]["PolicyDocument"]["Statement"] for p in synth.resources("AWS::S3::BucketPolicy").values()
                if p["Properties"]["Bucket"] == synth.ref(uploads.bucket)]
    assert [s for s in policy if s["Effect"] == "Deny" and s["Condition"] == TLS_ONLY and s["Action"] == "s3:*"]


def test_the_bucket_name_is_the_stack_s_account_s_and_region_s_within_s3_s_limit():
    # Given the longest stack name the config accepts, in the longest region name
    name = upload_bucket_name("A" + "b" * 127, "123456789012", "ap-southeast-3")
    # Then the name is lower case and within S3's 63 characters
    assert len(name) <= 63 and name == name.lower() and name.endswith("-uploads-123456789012-ap-southeast-3")
    assert upload_bucket_name("MTurkDecisions", "123456789012", "us-east-1") == \
        "mturkdecisions-uploads-123456789012-us-east-1"


def test_objects_created_under_uploads_are_announced_to_the_uploads_queue_which_admits_only_this_bucket(synth):
    # Given the bucket's notification configuration and the uploads queue's policy
    uploads = synth.stack.uploads
    resource = synth.resource(uploads.bucket)
    [notification] = resource["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    # Then every object created under uploads/ goes to the uploads queue, and nothing else is configured
    assert notification == {"Event": "s3:ObjectCreated:*", "Queue": synth.arn(uploads.queue),
                            "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "uploads/"}]}}}
    assert set(resource["Properties"]["NotificationConfiguration"]) == {"QueueConfigurations"}
    # And the queue admits s3.amazonaws.com to SendMessage only, from this bucket of this account only
    statements = synth.queue_policy(uploads.queue)
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == synth.arn(uploads.queue)
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert source == synth.stack.resolve(uploads.bucket_arn)
    name = resource["Properties"]["BucketName"]["Fn::Join"][1]  # the bucket's own name, by the same parts
    assert source["Fn::Join"][1] == ["arn:", {"Ref": "AWS::Partition"}, f":s3:::{name[0]}", *name[1:]]
    # And the bucket is created after that policy (S3 checks it may send when the notification is set)
    assert synth.logical_id(uploads.queue.node.find_child("Policy")) in resource["DependsOn"]
    # And the queue refuses plain HTTP and redrives to its DLQ after 5 receives, like every queue of the stack
    assert [s for s in statements if s["Effect"] == "Deny" and s["Condition"] == TLS_ONLY]
    assert synth.props(uploads.queue)["RedrivePolicy"] == {
        "deadLetterTargetArn": synth.arn(uploads.dead_letter_queue), "maxReceiveCount": 5}


def test_the_parser_consumes_the_uploads_queue_one_upload_at_a_time(synth):
    # Given the parser and its event source mapping
    uploads = synth.stack.uploads
    mapping = synth.event_source_mapping(uploads.parser)
    function = synth.props(uploads.parser)
    # Then it consumes the uploads queue, one message per invocation, reporting failed messages only
    assert mapping["EventSourceArn"] == synth.arn(uploads.queue)
    assert mapping["BatchSize"] == 1 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And it runs up to 15 minutes (the queue's visibility timeout is 6x that)
    assert function["Timeout"] == 900 and synth.props(uploads.queue)["VisibilityTimeout"] == 5400
    # And it is configured with the batch table, the bucket and the MTurk pacing of the batch worker
    variables = function["Environment"]["Variables"]
    assert variables["BATCH_TABLE_NAME"] == synth.ref(synth.stack.bulk.table)
    assert variables["UPLOAD_QUEUE_MAX_RECEIVES"] == "5"
    assert variables["UPLOAD_BUCKET_NAME"] == synth.ref(uploads.bucket)
    assert {"MTURK_INITIAL_RATE", "MTURK_MAX_RATE"} <= set(variables)
    assert "WORK_QUEUE_URL" not in variables  # it never queues: applying is the API's


def test_parser_grants_are_exactly_what_it_calls(synth):
    # Given the parser's policy statements
    uploads, store, secret = synth.stack.uploads, synth.stack.audit_store, synth.stack.secret
    statements = synth.statements(uploads.parser)
    by_actions = {tuple(sorted(_as_list(s["Action"]))): s for s in statements}
    # Then it reads the uploads only (GetObject on uploads/*), and the data key only through S3
    get = by_actions[("s3:GetObject",)]
    assert get["Resource"] == {"Fn::Join": ["", [synth.arn(uploads.bucket), "/uploads/*"]]}
    decrypt_s3 = [s for s in statements if s["Action"] == "kms:Decrypt" and "s3." in json.dumps(s.get("Condition"))]
    assert [s["Resource"] for s in decrypt_s3] == [synth.arn(store.key)]
    # And on the batch table: writes the rows 25 at a time, reads and moves META (and the MTurk pacer's item)
    batch = by_actions[("dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:UpdateItem")]
    assert batch["Resource"] == synth.arn(synth.stack.bulk.table)
    # And it reads the MTurk secret (it reads assignments to plan), and consumes its own queue
    assert by_actions[("secretsmanager:GetSecretValue",)]["Resource"] == synth.ref(secret.secret)
    consume = by_actions[("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                          "sqs:GetQueueUrl", "sqs:ReceiveMessage")]
    assert consume["Resource"] == synth.arn(uploads.queue)
    # And nothing else: no audit or idempotency table, no work queue, no bus, no PutObject
    resources = json.dumps([s["Resource"] for s in statements])
    for construct in (store.audit_table, store.idempotency_table, synth.stack.bulk.queue, synth.stack.events.bus):
        assert synth.logical_id(construct) not in resources
    assert "s3:PutObject" not in json.dumps(statements)
    assert len(statements) == 9  # + the table key through DynamoDB, the secret's key, logs, X-Ray
