"""Automatic reversals: the schedule table, the sweeper and the reconciler, their schedules, grants and alarms."""

from __future__ import annotations

import json

from infra.config import LONGEST_FUNCTION_TIMEOUT_SECONDS


def _index_arn(synth, table, index: str) -> str:
    return json.dumps({"Fn::Join": ["", [synth.arn(table), f"/index/{index}"]]}, sort_keys=True)


def _rule_targeting(synth, function) -> dict:
    rules = [
        r["Properties"]
        for r in synth.resources("AWS::Events::Rule").values()
        if any(t["Arn"] == synth.arn(function) for t in r["Properties"]["Targets"])
    ]
    assert len(rules) == 1
    return rules[0]


# ---- the schedule table -------------------------------------------------------------------------


def test_schedule_table_keys_and_indexes_match_the_pynamodb_model(synth):
    # Given the reversal schedule table
    props = synth.props(synth.stack.reversals.table)
    # Then its key is assignment_id (one pending reversal per assignment), a string
    assert props["KeySchema"] == [{"AttributeName": "assignment_id", "KeyType": "HASH"}]
    # And it has the two sparse indexes of adapters/schedule_store.py, keyed on `pending`, projecting ALL
    indexes = {gsi["IndexName"]: gsi for gsi in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by-due", "by-deadline", "by-state"}
    for name, sort_key in (("by-due", "due_key"), ("by-deadline", "deadline_key")):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": "pending", "KeyType": "HASH"},
            {"AttributeName": sort_key, "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    # And `by-state` (state, due time) for GET /scheduled-reversals
    assert indexes["by-state"]["KeySchema"] == [{"AttributeName": "state", "KeyType": "HASH"},
                                                {"AttributeName": "due_key", "KeyType": "RANGE"}]
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attributes == dict.fromkeys(("assignment_id", "pending", "due_key", "deadline_key", "state"), "S")
    # And no TTL: a pending reversal never expires by itself
    assert "TimeToLiveSpecification" not in props


def test_schedule_table_is_on_demand_encrypted_with_pitr_and_retained(synth):
    # Given the reversal schedule table
    table = synth.resource(synth.stack.reversals.table)
    props = table["Properties"]
    # Then it is on-demand, PITR-protected and encrypted with the service's data key
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {
        "KMSMasterKeyId": synth.arn(synth.stack.audit_store.key),
        "SSEEnabled": True,
        "SSEType": "KMS",
    }
    # And pending reversals (promises to workers) outlive the stack and a mistaken delete
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["DeletionProtectionEnabled"] is True


# ---- the sweeper --------------------------------------------------------------------------------


def test_sweeper_runs_the_scheduler_handler_every_minute(synth):
    # Given the sweeper and the rule that targets it
    sweeper = synth.stack.reversals.sweeper
    props = synth.props(sweeper)
    rule = _rule_targeting(synth, sweeper)
    # Then it runs the scheduler handler, every minute, on the default bus
    assert props["Handler"] == "mturk_decisions.handlers.scheduler.handler"
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert "EventBusName" not in rule and "EventPattern" not in rule
    assert rule["State"] == "ENABLED"
    # And has room for a sweep of 100 due reversals: 5 minutes
    assert props["Timeout"] == 300
    # And EventBridge may invoke it from that rule only
    synth.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": synth.arn(sweeper),
            "Principal": "events.amazonaws.com",
            "SourceArn": synth.arn(synth.stack.reversals.node.find_child("SweepSchedule")),
        },
    )


def test_sweeps_are_unreserved_by_default_and_a_missed_sweep_is_not_replayed(synth, restricted_synth):
    # Given the default config
    # When / Then the sweeper reserves nothing (any account can deploy): overlapping
    # sweeps are safe, each claims an automatic reversal before it acts
    sweeper = synth.stack.reversals.sweeper
    assert "ReservedConcurrentExecutions" not in synth.props(sweeper)
    # And a sweep that cannot start within a minute, or fails, is dropped: the next minute's takes over
    synth.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": synth.ref(sweeper), "MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0},
    )
    assert _rule_targeting(synth, sweeper)["Targets"][0]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 60,
        "MaximumRetryAttempts": 0,
    }
    # And given sweeperReservedConcurrency=1, one sweeper runs at a time
    assert restricted_synth.props(restricted_synth.stack.reversals.sweeper)["ReservedConcurrentExecutions"] == 1


def test_sweeper_environment_is_the_service_contract_plus_schedules_and_bus(synth, service_env):
    # Given the sweeper's and the API function's environments
    env = synth.props(synth.stack.reversals.sweeper)["Environment"]["Variables"]
    api_env = synth.props(synth.stack.api.function)["Environment"]["Variables"]
    # Then it reads the same tables, secret and endpoint as the API
    for name in service_env:
        assert env[name] == api_env[name], name
    # And the schedule table and the bus it announces its reversals on; nothing more
    assert env["SCHEDULE_TABLE_NAME"] == synth.ref(synth.stack.reversals.table)
    assert env["EVENT_BUS_NAME"] == synth.ref(synth.stack.events.bus)
    assert set(env) == service_env | {"SCHEDULE_TABLE_NAME", "EVENT_BUS_NAME"}


def test_sweeper_grants_are_exactly_what_it_calls(synth):
    # Given the sweeper's grants
    reversals, store, secret = synth.stack.reversals, synth.stack.audit_store, synth.stack.secret
    sweeper = reversals.sweeper
    grants = synth.grants(sweeper)
    table = json.dumps(synth.arn(reversals.table), sort_keys=True)
    # Then it claims and settles schedules on the table itself (conditional PutItem; it reads by index) ...
    assert {a for a, r in grants if r == table} == {"dynamodb:PutItem"}
    # ... and queries the two indexes by name (no /index/*), and nothing else on them
    for index in ("by-due", "by-deadline"):
        assert {a for a, r in grants if r == _index_arn(synth, reversals.table, index)} == {"dynamodb:Query"}
    assert synth.actions_on(sweeper, reversals.table) == {"dynamodb:PutItem", "dynamodb:Query"}
    # And it decides through the service: audit writes, the MTurk secret, events on the service's bus
    assert synth.actions_on(sweeper, store.audit_table) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    }
    assert synth.actions_on(sweeper, secret.secret) == {"secretsmanager:GetSecretValue"}
    assert synth.actions_on(sweeper, synth.stack.events.bus) == {"events:PutEvents"}
    # And it cannot touch the idempotency cache, the batch table or any queue
    assert not synth.actions_on(sweeper, store.idempotency_table)
    assert not synth.actions_on(sweeper, synth.stack.bulk.table)
    assert not {a for a, _ in grants if a.startswith("sqs:")}


# ---- the reconciler -----------------------------------------------------------------------------


def test_reconciler_runs_every_five_minutes(synth):
    # Given the reconciler and the rule that targets it
    reconciler = synth.stack.reversals.reconciler
    props = synth.props(reconciler)
    rule = _rule_targeting(synth, reconciler)
    # Then it runs the reconciler handler every 5 minutes, and a missed run is not replayed
    assert props["Handler"] == "mturk_decisions.handlers.reconciler.handler"
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["Targets"][0]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0}
    assert props["Timeout"] == 300


def test_reconciler_waits_longer_than_any_function_can_run(synth, restricted_synth, service_env):
    # Given the reconciler's environment (default and reconcileAfterSeconds=1800)
    for variant, seconds in ((synth, "900"), (restricted_synth, "1800")):
        env = variant.props(variant.stack.reversals.reconciler)["Environment"]["Variables"]
        # Then it settles only PENDING records older than that ...
        assert env["RECONCILE_AFTER_SECONDS"] == seconds
        assert set(env) == service_env | {"RECONCILE_AFTER_SECONDS", "BATCH_TABLE_NAME", "WORK_QUEUE_URL"}
        # ... which no function of the stack can still be finalizing (none runs longer)
        timeouts = [f["Properties"]["Timeout"] for f in variant.resources("AWS::Lambda::Function").values()]
        assert max(timeouts) == LONGEST_FUNCTION_TIMEOUT_SECONDS <= int(seconds)


def test_reconciler_reads_pending_records_and_finalizes_them_only(synth):
    # Given the reconciler's grants
    reversals, store = synth.stack.reversals, synth.stack.audit_store
    reconciler = reversals.reconciler
    grants = synth.grants(reconciler)
    audit = json.dumps(synth.arn(store.audit_table), sort_keys=True)
    # Then it reads the audit (leases, records, histories) and updates records of the table itself, and
    # queries the by-pending index, no other
    assert {a for a, r in grants if r == audit} == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"}
    assert {a for a, r in grants if r == _index_arn(synth, store.audit_table, "by-pending")} == {"dynamodb:Query"}
    for index in ("by-worker", "by-hit"):
        assert not {a for a, r in grants if r == _index_arn(synth, store.audit_table, index)}
    # And it never creates audit records, never writes the schedule table, never puts events
    assert "dynamodb:PutItem" not in synth.actions_on(reconciler, store.audit_table)
    assert not synth.actions_on(reconciler, reversals.table)
    assert not {a for a, _ in grants if a.startswith("events:")}
    # And the only queue it may use is the work queue, to re-queue a batch whose send failed (send only)
    work_queue = json.dumps(synth.arn(synth.stack.bulk.queue), sort_keys=True)
    assert {a for a, r in grants if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert {r for a, r in grants if a.startswith("sqs:")} == {work_queue}
    assert synth.actions_on(reconciler, synth.stack.bulk.table) == {"dynamodb:Query", "dynamodb:UpdateItem"}
    # And it reads the MTurk secret (GetAssignment tells whether a decision was applied)
    assert synth.actions_on(reconciler, synth.stack.secret.secret) == {"secretsmanager:GetSecretValue"}


# ---- the API function ---------------------------------------------------------------------------


def test_api_function_knows_the_schedules_the_bus_and_the_notifications_queue(synth):
    # Given the API function's environment
    env = synth.props(synth.stack.api.function)["Environment"]["Variables"]
    events = synth.stack.events
    # Then it finds the schedule table, the bus, and the queue it points MTurk notifications at
    assert env["SCHEDULE_TABLE_NAME"] == synth.ref(synth.stack.reversals.table)
    assert env["EVENT_BUS_NAME"] == synth.ref(events.bus)
    assert env["NOTIFICATIONS_QUEUE_URL"] == synth.ref(events.notifications.queue)
    # And it has no grant on the notifications queue: MTurk sends to it, not the API
    assert not synth.actions_on(synth.stack.api.function, events.notifications.queue)


# ---- alarms -------------------------------------------------------------------------------------


def test_sweeper_and_reconciler_errors_alarm_to_the_topic(synth):
    # Given the alarms on the sweeper's and the reconciler's Errors
    topic = [synth.ref(synth.stack.alarm_topic)]
    for function in (synth.stack.reversals.sweeper, synth.stack.reversals.reconciler):
        (alarm,) = synth.alarms_on("Errors", synth.ref(function))
        # Then any error alarms, to the topic
        assert alarm["Threshold"] == 0
        assert alarm["AlarmActions"] == topic


def test_sweeper_throttles_alarm_only_when_the_sweeper_is_not_capped_on_purpose(synth, restricted_synth):
    # Given a sweeper capped at one
    # When / Then a throttle is a sweep skipped while the previous one runs: no alarm
    assert restricted_synth.alarms_on("Throttles", restricted_synth.ref(restricted_synth.stack.reversals.sweeper)) == []
    # And given an unreserved sweeper (the default), a throttle means the account ran out of concurrency: alarm
    sweeper = synth.stack.reversals.sweeper
    (alarm,) = synth.alarms_on("Throttles", synth.ref(sweeper))
    assert alarm["AlarmActions"] == [synth.ref(synth.stack.alarm_topic)]


def test_dashboard_shows_the_sweeper_and_the_reconciler(synth):
    # Given the dashboard
    # When / Then it has both functions' widgets
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for function in (synth.stack.reversals.sweeper, synth.stack.reversals.reconciler):
        assert synth.logical_id(function) in body
    assert "Reversal sweeper" in body and "Reconciler" in body
