"""Event integration: bus + archive, Reversal Requested events, MTurk notifications, queues, grants, alarms."""

from __future__ import annotations

import json
from typing import Any

import pytest

TLS_ONLY = {"Bool": {"aws:SecureTransport": "false"}}
# What recording decisions needs on the audit table (its indexes included): AuditStore.grant_audit_write.
AUDIT_WRITE_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _consumed_queues(synth):
    events = synth.stack.events
    return {
        "reversal requests": (events.reversal_requests, events.events_consumer),
        "notifications": (events.notifications, events.notifications_consumer),
    }


# ---- the bus and its archive ---------------------------------------------------------------------


def test_service_bus_is_named_after_the_stack_and_archived(synth, restricted_synth):
    # Given the service's event bus
    _, bus = synth.only("AWS::Events::EventBus")
    # Then it is a custom bus named after the stack, with no resource policy (same-account use only)
    assert bus["Properties"]["Name"] == "MTurkDecisions-events"
    synth.template.resource_count_is("AWS::Events::EventBusPolicy", 0)
    # And every event on it is archived for replay, 30 days by default (7 with eventArchiveRetentionDays=7)
    for variant, days in ((synth, 30), (restricted_synth, 7)):
        _, archive = variant.only("AWS::Events::Archive")
        props = archive["Properties"]
        assert props["SourceArn"] == variant.arn(variant.stack.events.bus)
        assert props["EventPattern"] == {"account": [{"Ref": "AWS::AccountId"}]}
        assert props["RetentionDays"] == days


def test_reversal_requested_events_go_to_the_requests_queue(synth):
    # Given the rule on the service's bus
    events = synth.stack.events
    rule = synth.props(events.reversal_requested_rule)
    # Then it matches the Reversal Requested detail-type from the allowed sources only, on the service's bus
    assert rule["EventBusName"] == synth.ref(events.bus)
    assert rule["EventPattern"] == {"detail-type": ["Reversal Requested"], "source": ["mturk-decisions.requester"]}
    # And its one target is the reversal-requests queue; what EventBridge cannot deliver goes to the DLQ
    (target,) = rule["Targets"]
    assert target["Arn"] == synth.arn(events.reversal_requests.queue)
    assert target["DeadLetterConfig"] == {"Arn": synth.arn(events.reversal_requests.dead_letter_queue)}
    assert "InputTransformer" not in target and "Input" not in target  # the consumer reads the whole event


def test_only_that_rule_may_send_to_the_requests_queue(synth):
    # Given the requests queue's policy
    events = synth.stack.events
    statements = synth.queue_policy(events.reversal_requests.queue)
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # Then EventBridge may send to it, from the Reversal Requested rule only, and no one else is allowed
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert "sqs:SendMessage" in _as_list(allow["Action"])
    assert not {a for a in _as_list(allow["Action"]) if a.startswith(("sqs:Receive", "sqs:Delete", "sqs:Purge"))}
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": synth.arn(events.reversal_requested_rule)}}
    assert allow["Resource"] == synth.arn(events.reversal_requests.queue)
    # And every other sender is denied, whatever its own IAM permissions (evaluated in test_infra_policies)
    (deny,) = [s for s in statements if s.get("Sid") == "OnlyTheReversalRequestedRuleSends"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "ArnNotEquals": {"aws:SourceArn": synth.arn(events.reversal_requested_rule)}}


def test_mturk_may_send_notifications_over_tls_and_nothing_else(synth):
    # Given the notifications queue's policy
    notifications = synth.stack.events.notifications
    statements = synth.queue_policy(notifications.queue)
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    # Then the MTurk service principal may SendMessage (MTurk's documented queue permission), over TLS,
    # for this account only (confused-deputy guard)
    assert allow["Principal"] == {"Service": "mturk-requester.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Resource"] == synth.arn(notifications.queue)
    assert allow["Condition"] == {"Bool": {"aws:SecureTransport": "true"},
                                  "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # And the notifications DLQ admits no other principal
    assert [s for s in synth.queue_policy(notifications.dead_letter_queue) if s["Effect"] == "Allow"] == []


# ---- queues -------------------------------------------------------------------------------------


def test_every_queue_is_encrypted_and_refuses_plain_http(synth):
    # Given every queue of the stack (bulk, reversal requests, notifications, uploads, and their DLQs)
    queues = synth.resources("AWS::SQS::Queue")
    assert len(queues) == 8
    for logical_id, queue in queues.items():
        # Then each is encrypted with SQS-managed SSE (messages carry ids only; MTurk can send to it)
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, logical_id
        assert "KmsMasterKeyId" not in queue["Properties"], logical_id
        # And its policy denies every action over a non-TLS connection
        assert {
            "Action": "sqs:*",
            "Condition": TLS_ONLY,
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": {"Fn::GetAtt": [logical_id, "Arn"]},
        } in synth.queue_policy(logical_id), logical_id


@pytest.mark.parametrize("name", ["reversal requests", "notifications"])
def test_queue_redrives_to_its_dlq_after_five_receives(synth, name):
    # Given a consumed queue, its DLQ and its consumer
    queues, consumer = _consumed_queues(synth)[name]
    queue, dlq = synth.props(queues.queue), synth.props(queues.dead_letter_queue)
    # Then a message that failed 5 times moves to the DLQ, which keeps it 14 days (the queue: 4)
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": synth.arn(queues.dead_letter_queue), "maxReceiveCount": 5}
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600 > queue["MessageRetentionPeriod"] == 4 * 24 * 3600
    assert "RedrivePolicy" not in dlq
    # And the visibility timeout leaves Lambda time to retry a throttled batch (>= 6 x the timeout)
    assert queue["VisibilityTimeout"] >= 6 * synth.props(consumer)["Timeout"]


@pytest.mark.parametrize("name", ["reversal requests", "notifications"])
def test_consumer_reads_ten_messages_with_partial_failures_two_at_a_time(synth, name):
    # Given a consumer's event source mapping
    queues, consumer = _consumed_queues(synth)[name]
    mapping = synth.event_source_mapping(consumer)
    # Then it consumes its queue 10 messages at a time, reporting failed records only
    assert mapping["EventSourceArn"] == synth.arn(queues.queue)
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And at most 2 consumers call MTurk at once (SQS's minimum event-source concurrency)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}


# ---- the consumers --------------------------------------------------------------------------------


def test_events_consumer_handler_and_environment(synth, service_env):
    # Given the Reversal Requested consumer
    stack = synth.stack
    props = synth.props(stack.events.events_consumer)
    env = props["Environment"]["Variables"]
    api_env = synth.props(stack.api.function)["Environment"]["Variables"]
    # Then it runs the events handler with the API's service settings
    assert props["Handler"] == "mturk_decisions.handlers.events.handler"
    for name in service_env:
        assert env[name] == api_env[name], name
    # And it knows the bus, its DLQ (for malformed events), the schedules (funds retries) and the
    # bulk resources (a HIT event becomes a batch); nothing more
    assert env["EVENT_BUS_NAME"] == synth.ref(stack.events.bus)
    assert env["EVENTS_DLQ_URL"] == synth.ref(stack.events.reversal_requests.dead_letter_queue)
    assert env["SCHEDULE_TABLE_NAME"] == synth.ref(stack.reversals.table)
    assert env["BATCH_TABLE_NAME"] == synth.ref(stack.bulk.table)
    assert env["WORK_QUEUE_URL"] == synth.ref(stack.bulk.queue)
    assert set(env) == service_env | {
        "EVENT_BUS_NAME",
        "EVENTS_DLQ_URL",
        "SCHEDULE_TABLE_NAME",
        "BATCH_TABLE_NAME",
        "WORK_QUEUE_URL",
    }


def test_notifications_consumer_handler_and_environment(synth, restricted_synth, service_env):
    # Given the MTurk notifications consumer
    stack = synth.stack
    props = synth.props(stack.events.notifications_consumer)
    env = props["Environment"]["Variables"]
    # Then it runs the notifications handler and knows its DLQ; website rejections are audited only by
    # default (no grace), so it has no schedule table
    assert props["Handler"] == "mturk_decisions.handlers.notifications.handler"
    assert env["NOTIFICATIONS_DLQ_URL"] == synth.ref(stack.events.notifications.dead_letter_queue)
    assert set(env) == service_env | {"NOTIFICATIONS_DLQ_URL"}
    # Given websiteRejectionGrace=pt72h, then website rejections are provisional for PT72H, in the schedule table
    restricted = restricted_synth.props(restricted_synth.stack.events.notifications_consumer)["Environment"]["Variables"]
    assert restricted["WEBSITE_REJECTION_GRACE"] == "PT72H"
    assert restricted["SCHEDULE_TABLE_NAME"] == restricted_synth.ref(restricted_synth.stack.reversals.table)


def test_events_consumer_grants_are_exactly_what_it_calls(synth):
    # Given the Reversal Requested consumer's grants
    stack = synth.stack
    consumer = stack.events.events_consumer
    requests = stack.events.reversal_requests
    # Then it consumes its queue and may only send to its DLQ (malformed events, with their reason)
    assert synth.actions_on(consumer, requests.queue) == {
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
    }
    assert synth.actions_on(consumer, requests.dead_letter_queue) == {"sqs:SendMessage"}
    # And reverses through the service: audit writes, the secret, events on the service's bus
    assert synth.actions_on(consumer, stack.audit_store.audit_table) == AUDIT_WRITE_ACTIONS
    assert synth.actions_on(consumer, stack.secret.secret) == {"secretsmanager:GetSecretValue"}
    assert synth.actions_on(consumer, stack.events.bus) == {"events:PutEvents"}
    # And creates funds-retry schedules, and batches for HIT events (rows + chunks; the HIT's pages read through
    # the shared MTurk pacer, an item of the batch table), nothing more
    assert synth.actions_on(consumer, stack.reversals.table) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert synth.actions_on(consumer, stack.bulk.table) == {"dynamodb:BatchWriteItem", "dynamodb:PutItem",
                                                            "dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert synth.actions_on(consumer, stack.bulk.queue) == {"sqs:SendMessage"}
    # And has nothing on the idempotency cache, the notifications queues or the bulk DLQ
    for construct in (
        stack.audit_store.idempotency_table,
        stack.events.notifications.queue,
        stack.events.notifications.dead_letter_queue,
        stack.bulk.dead_letter_queue,
    ):
        assert not synth.actions_on(consumer, construct), construct.node.path


def test_notifications_consumer_grants_are_exactly_what_it_calls(synth, restricted_synth):
    # Given the notifications consumer's grants
    stack = synth.stack
    consumer = stack.events.notifications_consumer
    notifications = stack.events.notifications
    grants = synth.grants(consumer)
    # Then it consumes its queue and may only send to its DLQ
    assert synth.actions_on(consumer, notifications.dead_letter_queue) == {"sqs:SendMessage"}
    assert "sqs:ReceiveMessage" in synth.actions_on(consumer, notifications.queue)
    # And reads an assignment's audit history and records the website's decision once (no lease, no
    # finalize); reads the secret
    assert synth.actions_on(consumer, stack.audit_store.audit_table) == {"dynamodb:PutItem", "dynamodb:Query"}
    assert synth.actions_on(consumer, stack.secret.secret) == {"secretsmanager:GetSecretValue"}
    # And creates provisional reversals only when a grace is configured
    assert not synth.actions_on(consumer, stack.reversals.table)
    restricted = restricted_synth.stack
    assert restricted_synth.actions_on(restricted.events.notifications_consumer, restricted.reversals.table) == {
        "dynamodb:GetItem", "dynamodb:PutItem"}
    # And it cannot start work: no work queue, no batch table, no events on the bus
    assert not synth.actions_on(consumer, stack.bulk.queue)
    assert not synth.actions_on(consumer, stack.bulk.table)
    assert not {a for a, _ in grants if a.startswith("events:")}
    sends = {r for a, r in grants if a == "sqs:SendMessage"}
    assert sends == {json.dumps(synth.arn(notifications.dead_letter_queue), sort_keys=True)}


def test_nobody_may_read_or_delete_from_any_dead_letter_queue(synth):
    # Given every identity statement naming a DLQ
    stack = synth.stack
    dlqs = {
        synth.logical_id(q)
        for q in (
            stack.bulk.dead_letter_queue,
            stack.events.reversal_requests.dead_letter_queue,
            stack.events.notifications.dead_letter_queue,
        )
    }
    for logical_id, resource in synth.resources("AWS::IAM::Policy").items():
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            named = {dlq for dlq in dlqs if dlq in json.dumps(statement["Resource"])}
            # Then at most SendMessage is granted on it (consumers dead-letter malformed messages);
            # draining or redriving a DLQ is an operator's job
            if named:
                assert _as_list(statement["Action"]) == ["sqs:SendMessage"], (logical_id, statement)


# ---- alarms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reversal requests", "notifications"])
def test_dlq_depth_alarm_notifies_the_topic(synth, name):
    # Given the alarm on a new DLQ's visible messages
    queues, _ = _consumed_queues(synth)[name]
    dlq_name = {"Fn::GetAtt": [synth.logical_id(queues.dead_letter_queue), "QueueName"]}
    (alarm,) = synth.alarms_on("ApproximateNumberOfMessagesVisible", dlq_name)
    # Then one message is enough, and the alarm goes to the alarm topic
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [synth.ref(synth.stack.alarm_topic)]


@pytest.mark.parametrize("name", ["reversal requests", "notifications"])
def test_consumer_errors_and_throttles_alarm_to_the_topic(synth, name):
    # Given a consumer (unreserved: a throttle means the account ran out of concurrency)
    _, consumer = _consumed_queues(synth)[name]
    for metric in ("Errors", "Throttles"):
        (alarm,) = synth.alarms_on(metric, synth.ref(consumer))
        # Then each alarms on the first occurrence, to the topic
        assert alarm["Threshold"] == 0, metric
        assert alarm["AlarmActions"] == [synth.ref(synth.stack.alarm_topic)], metric


def test_dashboard_shows_the_consumers_and_the_dlqs(synth):
    # Given the dashboard
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    # Then it has the consumers' and the new DLQs' widgets
    for queues, consumer in _consumed_queues(synth).values():
        assert synth.logical_id(consumer) in body
        assert synth.logical_id(queues.dead_letter_queue) in body
