"""Bulk decisions: batch table, work queue + DLQ, the batch worker and its event source, alarms."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from infra.constructs.bulk_decisions import event_source_max_concurrency

# ---- batch table --------------------------------------------------------------------------------


def test_batch_table_keys_and_ttl_match_the_pynamodb_model(synth):
    # Given the batch table
    props = synth.props(synth.stack.bulk.table)
    # Then its key is (batch_id, item_key), both strings, as adapters/batch_store.py expects
    assert props["KeySchema"] == [
        {"AttributeName": "batch_id", "KeyType": "HASH"},
        {"AttributeName": "item_key", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "batch_id", "AttributeType": "S"},
        {"AttributeName": "item_key", "AttributeType": "S"},
        {"AttributeName": "unqueued", "AttributeType": "S"},
    ]
    # And items expire by TTL on `expires_at` (the store sets it 90 days ahead)
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # And one sparse index finds batches stored but not yet queued (the reconciler re-queues them)
    assert [(i["IndexName"], i["KeySchema"]) for i in props["GlobalSecondaryIndexes"]] == [
        ("by-unqueued", [{"AttributeName": "unqueued", "KeyType": "HASH"},
                         {"AttributeName": "batch_id", "KeyType": "RANGE"}])]
    assert "LocalSecondaryIndexes" not in props


def test_batch_table_is_on_demand_encrypted_with_pitr_and_disposable(synth):
    # Given the batch table
    table = synth.resource(synth.stack.bulk.table)
    props = table["Properties"]
    # Then it is on-demand, PITR-protected and encrypted with the service's data key
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [synth.logical_id(synth.stack.audit_store.key), "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    # And it goes with the stack: batches are operational state, the audit table is the record
    assert table["DeletionPolicy"] == "Delete"
    assert "DeletionProtectionEnabled" not in props


# ---- queues -------------------------------------------------------------------------------------


def test_work_queue_redrives_to_the_dlq_after_five_receives(synth):
    # Given the work queue and its dead-letter queue
    bulk = synth.stack.bulk
    queue, dlq = synth.props(bulk.queue), synth.props(bulk.dead_letter_queue)
    # Then a chunk that failed 5 times moves to the DLQ
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [synth.logical_id(bulk.dead_letter_queue), "Arn"]},
        "maxReceiveCount": 5,
    }
    # And the DLQ keeps it 14 days, longer than the work queue's 4 (a moved message keeps its
    # original enqueue time), and has no DLQ of its own
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["MessageRetentionPeriod"] == 4 * 24 * 3600
    assert "RedrivePolicy" not in dlq
    # And the bulk construct has exactly these two queues, standard (the code sends no MessageGroupId)
    queue_ids = {synth.logical_id(bulk.queue), synth.logical_id(bulk.dead_letter_queue)}
    assert {k for k in synth.resources("AWS::SQS::Queue") if k.startswith("BulkDecisions")} == queue_ids
    assert "FifoQueue" not in queue and "FifoQueue" not in dlq


def test_work_queue_visibility_timeout_is_six_times_the_worker_timeout(synth):
    # Given the worker's timeout and the queue's visibility timeout
    worker_timeout = synth.props(synth.stack.bulk.worker)["Timeout"]
    visibility = synth.props(synth.stack.bulk.queue)["VisibilityTimeout"]
    # Then the queue leaves Lambda time to retry a throttled chunk (AWS guidance: >= 6x)
    assert worker_timeout == 900
    assert visibility >= 6 * worker_timeout
    assert visibility <= 12 * 3600  # SQS maximum


def test_both_queues_are_encrypted_and_refuse_plain_http(synth):
    # Given both queues
    bulk = synth.stack.bulk
    for queue in (bulk.queue, bulk.dead_letter_queue):
        props = synth.props(queue)
        # Then each is encrypted at rest (SQS-managed SSE: messages carry ids and line numbers only)
        assert props["SqsManagedSseEnabled"] is True
        # And its queue policy denies every action over a non-TLS connection
        synth.template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [synth.ref(queue)],
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Action": "sqs:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": {"Fn::GetAtt": [synth.logical_id(queue), "Arn"]},
                        }
                    ],
                    "Version": "2012-10-17",
                },
            },
        )


# ---- the worker ---------------------------------------------------------------------------------


def test_worker_is_a_house_function_with_the_batch_handler(synth):
    # Given the batch worker
    props = synth.props(synth.stack.bulk.worker)
    api = synth.props(synth.stack.api.function)
    # Then it runs the batch worker handler, with the API function's runtime, code, layers, logging and tracing
    assert props["Handler"] == "mturk_decisions.handlers.batch_worker.handler"
    for same in ("Runtime", "Architectures", "Code", "Layers", "TracingConfig"):
        assert props[same] == api[same], same
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    # And it has room for a 500-item chunk: 15 minutes, 512 MB
    assert props["Timeout"] == 900
    assert props["MemorySize"] == 512
    # And logs to its own log group with the stack's retention
    log_group = synth.json["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == 90
    assert props["LoggingConfig"]["LogGroup"] != api["LoggingConfig"]["LogGroup"]


def test_by_default_two_workers_at_most_and_nothing_reserved(synth):
    # Given the default config (workerReservedConcurrency=none: any account can deploy)
    props = synth.props(synth.stack.bulk.worker)
    mapping = synth.event_source_mapping(synth.stack.bulk.worker)
    # Then the function is unreserved, and the event source alone caps the workers at SQS's minimum, 2
    assert "ReservedConcurrentExecutions" not in props
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_worker_environment_is_the_service_contract_plus_bulk_settings(synth, service_env):
    # Given the worker's and the API function's environments
    env = synth.props(synth.stack.bulk.worker)["Environment"]["Variables"]
    api_env = synth.props(synth.stack.api.function)["Environment"]["Variables"]
    bulk = synth.stack.bulk
    # Then it reads the same tables, secret, endpoint and Powertools settings as the API
    for name in service_env:
        assert env[name] == api_env[name], name
    # And the batch table, the work queue and the pacing rates (defaults 5 and 50 calls/s)
    assert env["BATCH_TABLE_NAME"] == synth.ref(bulk.table)
    assert env["WORK_QUEUE_URL"] == synth.ref(bulk.queue)
    assert env["MTURK_INITIAL_RATE"] == "5"
    assert env["MTURK_MAX_RATE"] == "50"
    # And the event bus it announces "Batch Completed" and its decisions on
    assert env["EVENT_BUS_NAME"] == synth.ref(synth.stack.events.bus)
    # And nothing more: no schedule table, no notifications queue (API concerns)
    assert set(env) == service_env | {
        "BATCH_TABLE_NAME",
        "WORK_QUEUE_URL",
        "MTURK_INITIAL_RATE",
        "MTURK_MAX_RATE",
        "EVENT_BUS_NAME",
        "WORK_QUEUE_MAX_RECEIVES",
    }
    # And the delivery on which a failing chunk goes to the DLQ (its items are then marked DEAD_LETTERED)
    assert env["WORK_QUEUE_MAX_RECEIVES"] == "5"


def test_pacing_rates_come_from_context(restricted_synth):
    # Given mturkInitialRate=2.5 and mturkMaxRate=20
    env = restricted_synth.props(restricted_synth.stack.bulk.worker)["Environment"]["Variables"]
    # Then the worker gets them as the strings its Settings parse
    assert (env["MTURK_INITIAL_RATE"], env["MTURK_MAX_RATE"]) == ("2.5", "20")


def test_worker_reads_the_queue_one_chunk_at_a_time_with_partial_failures(synth):
    # Given the worker's event source mapping
    props = synth.event_source_mapping(synth.stack.bulk.worker)
    # Then the worker consumes the work queue, one message (= one chunk of up to 500 items) per call
    assert props["EventSourceArn"] == {"Fn::GetAtt": [synth.logical_id(synth.stack.bulk.queue), "Arn"]}
    assert synth.invoked_id(synth.stack.bulk.worker) in json.dumps(props["FunctionName"])  # its `live` alias
    assert props["BatchSize"] == 1
    assert "MaximumBatchingWindowInSeconds" not in props
    # And reports failed records (Powertools batch processing) instead of failing the whole batch
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And holds at most 2 chunks (SQS's minimum): one running, one waiting for the single worker
    assert props["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_with_a_reservation_the_event_source_never_invokes_more_workers_than_may_run(restricted_synth):
    # Given workerReservedConcurrency=2
    props = restricted_synth.props(restricted_synth.stack.bulk.worker)
    mapping = restricted_synth.event_source_mapping(restricted_synth.stack.bulk.worker)
    # Then the event source's maximum concurrency is the reservation: no receive is ever throttled (a
    # throttled receive counts toward the DLQ's maxReceiveCount)
    assert props["ReservedConcurrentExecutions"] == 2
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_event_source_concurrency_follows_the_reserved_concurrency():
    # Given reserved concurrencies
    # When / Then the event source never invokes more often than they allow;
    # unreserved, SQS's minimum of 2 (a reservation below 2 is refused by the config)
    assert event_source_max_concurrency(None) == 2
    assert event_source_max_concurrency(2) == 2
    assert event_source_max_concurrency(5) == 5


# ---- alarms and dashboard -----------------------------------------------------------------------


def test_dlq_depth_alarm_notifies_the_topic(synth):
    # Given the alarms on the DLQ's visible messages
    dlq_name = {"Fn::GetAtt": [synth.logical_id(synth.stack.bulk.dead_letter_queue), "QueueName"]}
    (alarm,) = synth.alarms_on("ApproximateNumberOfMessagesVisible", dlq_name)
    # Then one message is enough, and the alarm goes to the alarm topic
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [synth.ref(synth.stack.alarm_topic)]


def test_work_queue_age_alarm_notifies_the_topic(synth, restricted_synth):
    # Given the alarm on the age of the work queue's oldest message
    for variant, minutes in ((synth, 30), (restricted_synth, 60)):
        queue_name = {"Fn::GetAtt": [variant.logical_id(variant.stack.bulk.queue), "QueueName"]}
        (alarm,) = variant.alarms_on("ApproximateAgeOfOldestMessage", queue_name)
        # Then it fires when a chunk has waited longer than workQueueMaxAgeMinutes (default 30)
        assert alarm["Threshold"] == minutes * 60
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [variant.ref(variant.stack.alarm_topic)]


def test_worker_errors_alarm_notifies_the_topic(synth):
    # Given the alarms on the worker's Errors (a crash or timeout: item failures are reported, not raised)
    worker = synth.ref(synth.stack.bulk.worker)
    (alarm,) = synth.alarms_on("Errors", worker)
    # Then any error alarms, to the topic
    assert alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [synth.ref(synth.stack.alarm_topic)]


def test_any_worker_throttle_alarms_since_none_is_by_design(synth, restricted_synth):
    # Given either config, whose event source never invokes more workers than may run
    # When / Then a throttle means the account ran out of concurrency, and alarms
    for variant in (synth, restricted_synth):
        (alarm,) = variant.alarms_on("Throttles", variant.ref(variant.stack.bulk.worker))
        assert alarm["AlarmActions"] == [variant.ref(variant.stack.alarm_topic)]
    # And the API function's throttle alarm is unchanged
    assert len(synth.alarms_on("Throttles", synth.ref(synth.stack.api.function))) == 1


def test_dashboard_shows_the_worker_and_both_queues(synth):
    # Given the dashboard
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    bulk = synth.stack.bulk
    # Then it has the worker's and both queues' widgets
    assert synth.logical_id(bulk.worker) in body
    assert synth.logical_id(bulk.queue) in body
    assert synth.logical_id(bulk.dead_letter_queue) in body
    assert "Batch worker" in body


def test_new_routes_are_iam_authorized_lambda_proxies(synth):
    # Given the bulk routes' methods (they invoke the API function's `live` alias)
    function_id = synth.invoked_id(synth.stack.api.function)
    for verb, parameter in (("POST", None), ("GET", "batchId"), ("POST", "hitId")):
        expected = {
            "HttpMethod": verb,
            "AuthorizationType": "AWS_IAM",
            "Integration": Match.object_like({"Type": "AWS_PROXY"}),
        }
        if parameter:
            expected["RequestParameters"] = {f"method.request.path.{parameter}": True}
        # Then each is IAM-authorized and proxies to the API function
        synth.template.has_resource_properties("AWS::ApiGateway::Method", expected)
    methods = [m["Properties"] for m in synth.resources("AWS::ApiGateway::Method").values()]
    assert all(function_id in json.dumps(m["Integration"]["Uri"]) for m in methods)
