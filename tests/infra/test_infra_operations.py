"""Alarms, the alarm topic, the dashboard, and the queue-depth seam for later constructs."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Duration, Stack, assertions
from aws_cdk import aws_sqs as sqs

from infra.constructs.operations import AUTOMATIC_REVERSAL_METRICS, SERVICE_METRICS, Operations


def _metric_names(alarm: dict) -> set[str]:
    names = {alarm.get("MetricName")}
    for query in alarm.get("Metrics", []):
        names.add(query.get("MetricStat", {}).get("Metric", {}).get("MetricName"))
    return names - {None}


def _seam_stack(stack_name: str) -> tuple[Stack, Operations]:
    """A stack of its own with an Operations construct, as a later construct would find it."""
    stack = Stack(App(), stack_name)
    return stack, Operations(stack, "Operations", alarm_email=None, name_prefix="Seam")


def _only_alarm(stack: Stack) -> dict:
    """The properties of the one alarm of `stack`."""
    alarms = assertions.Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 1
    return next(iter(alarms.values()))["Properties"]


def test_every_alarm_notifies_the_alarm_topic(synth):
    # Given every alarm of the stack
    topic_ref = {"Ref": synth.logical_id(synth.stack.alarm_topic)}
    alarms = synth.alarms()
    assert alarms
    # Then each one is enabled and sends ALARM (and OK) to the topic
    for logical_id, alarm in alarms.items():
        assert alarm["ActionsEnabled"] is True, logical_id
        assert alarm["AlarmActions"] == [topic_ref], logical_id
        assert alarm["OKActions"] == [topic_ref], logical_id


def test_alarms_cover_api_5xx_lambda_errors_and_throttles(synth):
    # Given the alarms' metrics
    metric_names = [_metric_names(a) for a in synth.alarms().values()]
    # Then the API 5XX rate, the Lambda errors and throttles and the table's health are watched
    for expected in ("5XXError", "Errors", "Throttles", "SystemErrors", "ReadThrottleEvents", "WriteThrottleEvents"):
        assert any(expected in names for names in metric_names), expected
    api_alarm = next(a for a in synth.alarms().values() if "5XXError" in _metric_names(a))
    assert api_alarm["Threshold"] == 0.05
    assert api_alarm["Metrics"][0]["MetricStat"]["Stat"] == "Average"


@pytest.mark.parametrize("metric", SERVICE_METRICS, ids=lambda m: m.name)
def test_service_metric_alarm(synth, metric):
    # Given the alarm on one of the service's Powertools metrics
    matching = [a for a in synth.alarms().values() if metric.name in _metric_names(a)]
    assert len(matching) == 1
    alarm = matching[0]
    stat = alarm["Metrics"][0]["MetricStat"]
    # Then it reads namespace MTurkDecisions, dimension service=mturk-decisions, 5-minute sums
    assert stat["Metric"]["Namespace"] == "MTurkDecisions"
    assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "mturk-decisions"}]
    assert stat["Stat"] == "Sum" and stat["Period"] == 300
    # And fires on the first breaching period, staying OK while the metric is absent
    assert alarm["Threshold"] == metric.threshold
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 1 and alarm["DatapointsToAlarm"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"


def _dimensions(metric) -> dict[str, str]:
    return {"service": "mturk-decisions", **dict(metric.dimensions)}


def _alarm_dimensions(alarm: dict) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]}


@pytest.mark.parametrize("metric", AUTOMATIC_REVERSAL_METRICS, ids=lambda m: m.alarm_name)
def test_automatic_reversal_metric_alarm(synth, metric):
    # Given the alarm on one metric of automatic reversals, events or the reconciler
    topic_ref = {"Ref": synth.logical_id(synth.stack.alarm_topic)}
    matching = [
        a
        for a in synth.alarms().values()
        if metric.name in _metric_names(a)
        and _alarm_dimensions(a) == _dimensions(metric)
    ]
    assert len(matching) == 1
    alarm = matching[0]
    stat = alarm["Metrics"][0]["MetricStat"]
    # Then it reads namespace MTurkDecisions with the metric's exact dimensions, over 5 minutes
    assert stat["Metric"]["Namespace"] == "MTurkDecisions"
    assert stat["Period"] == 300
    # And fires on the first value above 0, to the alarm topic, staying OK while the metric is absent
    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 1 and alarm["DatapointsToAlarm"] == 1
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [topic_ref]
    assert alarm["AlarmName"] == f"MTurkDecisions-AutomaticReversals-{metric.alarm_name}-Critical"


def test_the_automatic_reversal_alarms_watch_what_the_lambda_code_emits(synth):
    # Given the alarms by name
    # When / Then each metric the sweeper, reconciler and publishers emit is watched
    by_name = {m.alarm_name: m for m in AUTOMATIC_REVERSAL_METRICS}
    assert set(by_name) == {
        "ReversalsNearDeadline",
        "ScheduledReversalsFailed",
        "ReversalsFailed",
        "ReconcilerFindings",
        "EventPublishFailed",
        "ReconcilerErrors",
        "BatchesStranded",
    }
    # And the deadline guard takes the maximum of the sweeper's per-minute counts (any one is enough) ...
    assert by_name["ReversalsNearDeadline"].statistic == "Maximum"
    (guard,) = [a for a in synth.alarms().values() if "ReversalsNearDeadline" in _metric_names(a)]
    assert guard["Metrics"][0]["MetricStat"]["Stat"] == "Maximum"
    # ... the others count occurrences
    for name in ("ScheduledReversalsFailed", "ReversalsFailed", "ReconcilerFindings", "EventPublishFailed"):
        assert by_name[name].statistic == "Sum", name
    # And failed reversals are the `Decisions` metric for action=reverse, outcome=failed (any source)
    failed = by_name["ReversalsFailed"]
    assert (failed.name, dict(failed.dimensions)) == ("Decisions", {"action": "reverse", "outcome": "failed"})


def test_alarm_topic_is_encrypted_and_tls_only(synth):
    # Given the alarm topic
    topic_id = synth.logical_id(synth.stack.alarm_topic)
    topic = synth.json["Resources"][topic_id]["Properties"]
    # Then it is encrypted with its own CMK, which CloudWatch may use to publish
    key_id = synth.logical_id(synth.stack.operations.topic_key)
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    key_policy = synth.json["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_policy)
    # And publishing without TLS is denied
    _, policy = synth.only("AWS::SNS::TopicPolicy")
    deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_email_subscription_only_when_configured(synth, restricted_synth):
    # Given no alarmEmail
    # When / Then no subscription
    synth.template.resource_count_is("AWS::SNS::Subscription", 0)
    # And given one, an e-mail subscription to the topic
    restricted_synth.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_one_dashboard_named_after_the_stack(synth):
    # Given the dashboards
    _, dashboard = synth.only("AWS::CloudWatch::Dashboard")
    # Then there is one, with the name given in the outputs, showing the service metrics
    assert dashboard["Properties"]["DashboardName"] == "MTurkDecisions-operations"
    assert synth.json["Outputs"]["DashboardName"]["Value"] == "MTurkDecisions-operations"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for metric in SERVICE_METRICS + AUTOMATIC_REVERSAL_METRICS:
        assert metric.name in body


def test_queue_depth_seam_alarms_to_the_topic():
    # Given an Operations construct and a dead-letter queue of a later construct
    stack, operations = _seam_stack("SeamStack")
    dlq = sqs.Queue(stack, "Dlq", retention_period=Duration.days(14))
    # When the later construct asks for a queue-depth alarm
    operations.alarm_on_queue_depth(dlq, friendly_name="BulkDlq")
    # Then an alarm on the queue's visible messages notifies the alarm topic
    alarm = _only_alarm(stack)
    assert "ApproximateNumberOfMessagesVisible" in _metric_names(alarm)
    assert alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": stack.get_logical_id(operations.alarm_topic.node.default_child)}]


def test_queue_age_seam_alarms_to_the_topic():
    # Given an Operations construct and a work queue of a later construct
    stack, operations = _seam_stack("AgeSeamStack")
    queue = sqs.Queue(stack, "Work")
    # When the later construct asks for an age-of-oldest-message alarm of 20 minutes
    operations.alarm_on_queue_age(queue, friendly_name="Work", max_age=Duration.minutes(20))
    # Then one alarm on ApproximateAgeOfOldestMessage > 1200 s notifies the alarm topic
    alarm = _only_alarm(stack)
    assert "ApproximateAgeOfOldestMessage" in _metric_names(alarm)
    assert alarm["Threshold"] == 1200
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == [{"Ref": stack.get_logical_id(operations.alarm_topic.node.default_child)}]
