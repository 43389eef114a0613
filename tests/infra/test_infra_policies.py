"""The synthesized resource policies, evaluated (tests/iam_eval.py): who may really publish an alarm, put
a Reversal Requested event, send to the requests and notifications queues — not only which statements exist.
"""
from __future__ import annotations

from tests.iam_eval import ACCOUNT, REGION, Request, Resolver, evaluate, resource_policies

OTHER_ACCOUNT = "999988887777"
LISTED_ROLE = "arn:aws:iam::111122223333:role/mturk-ops"  # allowedPrincipals of restricted_synth


def _policies(variant, construct):
    resolver = Resolver(variant.json)
    logical_id = variant.logical_id(construct)
    return resolver, logical_id, resource_policies(variant.json, resolver, logical_id)


def _alarm_arns(variant, account=ACCOUNT):
    names = [alarm["AlarmName"] for alarm in variant.alarms().values()]
    return [f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}" for name in names]


def _publish(topic_arn, alarm_arn, account, secure=True):
    return Request("sns:Publish", topic_arn, {"Service": "cloudwatch.amazonaws.com"},
                   {"aws:SourceAccount": account, "aws:SourceArn": alarm_arn, "aws:SecureTransport": secure})


def test_every_alarm_of_this_stack_can_deliver_to_the_topic_and_use_its_key(synth):
    # Given the alarm topic's policy and its key's policy
    resolver, topic_id, topic_policies = _policies(synth, synth.stack.alarm_topic)
    _, _, key_policies = _policies(synth, synth.stack.operations.topic_key)
    topic_arn = resolver.arn(topic_id)
    alarms = _alarm_arns(synth)
    assert len(alarms) >= 20
    for alarm_arn in alarms:
        # When CloudWatch publishes one of this stack's alarms (over TLS, as it does)
        publish = _publish(topic_arn, alarm_arn, ACCOUNT)
        encrypt = Request("kms:GenerateDataKey", resolver.arn(synth.logical_id(synth.stack.operations.topic_key)),
                          {"Service": "cloudwatch.amazonaws.com"},
                          {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": alarm_arn})
        # Then both the topic and the key allow it
        assert evaluate(topic_policies, publish) == "Allow", alarm_arn
        assert evaluate(key_policies, encrypt) == "Allow", alarm_arn


def test_another_accounts_alarm_and_a_plain_http_publish_are_refused(synth):
    # Given the alarm topic's policies, this stack's alarms and another account's
    resolver, topic_id, topic_policies = _policies(synth, synth.stack.alarm_topic)
    topic_arn = resolver.arn(topic_id)
    [alarm_arn, *_] = _alarm_arns(synth)
    foreign = _alarm_arns(synth, OTHER_ACCOUNT)[0]
    # When / Then an alarm of another account (the confused deputy) may not publish to the topic
    assert evaluate(topic_policies, _publish(topic_arn, foreign, OTHER_ACCOUNT)) != "Allow"
    # And an alarm ARN outside this stack's names, from this account, neither
    stranger = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:SomeoneElses-Alarm"
    assert evaluate(topic_policies, _publish(topic_arn, stranger, ACCOUNT)) != "Allow"
    # And a publish without TLS is explicitly denied, even from this stack's own alarm
    assert evaluate(topic_policies, _publish(topic_arn, alarm_arn, ACCOUNT, secure=False)) == "ExplicitDeny"


def _put_event(bus_arn, principal_arn, detail_type):
    return Request("events:PutEvents", bus_arn, {"AWS": principal_arn},
                   {"aws:PrincipalArn": principal_arn, "aws:PrincipalAccount": principal_arn.split(":")[4],
                    "events:detail-type": detail_type}, identity_allows=True)


def test_only_listed_publishers_can_request_reversals(restricted_synth):
    # Given the bus of a stack with allowedPrincipals (eventPublishers default to them)
    resolver, bus_id, policies = _policies(restricted_synth, restricted_synth.stack.events.bus)
    bus_arn = resolver.arn(bus_id)
    stranger = "arn:aws:iam::111122223333:role/some-other-team"
    # Then the listed role may put a Reversal Requested event; another role of the account may not,
    # even though its own IAM policy allows events:PutEvents
    assert evaluate(policies, _put_event(bus_arn, LISTED_ROLE, "Reversal Requested")) == "Allow"
    assert evaluate(policies, _put_event(bus_arn, stranger, "Reversal Requested")) == "ExplicitDeny"
    # And the service's own events (put by its function roles) are not affected
    function_role = resolver.arn(restricted_synth.logical_id(restricted_synth.stack.api.function.role))
    assert evaluate(policies, _put_event(bus_arn, function_role, "Assignment Rejected")) == "Allow"


def test_without_publishers_the_accounts_iam_decides(synth):
    # Given the synthesized stack
    # When
    _, bus_id, policies = _policies(synth, synth.stack.events.bus)
    # Then
    assert policies == []


def _send(queue_arn, principal, context, identity_allows=False):
    return Request("sqs:SendMessage", queue_arn, principal, {"aws:SecureTransport": True, **context},
                   identity_allows=identity_allows)


def test_only_the_rule_can_send_to_the_reversal_requests_queue(synth):
    # Given the requests queue's policies
    events = synth.stack.events
    resolver, queue_id, policies = _policies(synth, events.reversal_requests.queue)
    queue_arn, rule_arn = resolver.arn(queue_id), resolver.arn(synth.logical_id(events.reversal_requested_rule))
    # Then EventBridge delivering for the rule may send
    assert evaluate(policies, _send(queue_arn, {"Service": "events.amazonaws.com"}, {"aws:SourceArn": rule_arn})) == "Allow"
    # And nobody may bypass the bus by sending directly, even with sqs:SendMessage in their own policy
    direct = _send(queue_arn, {"AWS": "arn:aws:iam::111122223333:role/anyone"}, {}, identity_allows=True)
    assert evaluate(policies, direct) == "ExplicitDeny"
    # And another rule's delivery neither
    other_rule = rule_arn.replace("rule/", "rule/Other")
    assert evaluate(policies, _send(queue_arn, {"Service": "events.amazonaws.com"}, {"aws:SourceArn": other_rule})) != "Allow"


def test_mturk_may_notify_for_this_requesters_account_only(synth, restricted_synth):
    for variant, account in ((synth, ACCOUNT), (restricted_synth, "777788889999")):
        resolver, queue_id, policies = _policies(variant, variant.stack.events.notifications.queue)
        mturk = {"Service": "mturk-requester.amazonaws.com"}
        queue_arn = resolver.arn(queue_id)
        # Given MTurk sending for the requester's account (mturkRequesterAccountId, default: this one)
        assert evaluate(policies, _send(queue_arn, mturk, {"aws:SourceAccount": account})) == "Allow"
        # Then for another account it may not (the confused deputy)
        assert evaluate(policies, _send(queue_arn, mturk, {"aws:SourceAccount": OTHER_ACCOUNT})) != "Allow"


def test_every_service_principal_allow_is_scoped_to_a_source(synth, restricted_synth):
    # Given every resource-policy statement that allows an AWS service principal
    # When / Then each is scoped
    # with aws:SourceArn or aws:SourceAccount (the confused-deputy guard)
    for variant in (synth, restricted_synth):
        for logical_id, resource in variant.json["Resources"].items():
            props = resource.get("Properties", {})
            for document in (props.get("PolicyDocument"), props.get("KeyPolicy")):
                for statement in (document or {}).get("Statement", []):
                    principal = statement.get("Principal")
                    if statement["Effect"] != "Allow" or not isinstance(principal, dict) or "Service" not in principal:
                        continue
                    keys = {k for pairs in statement.get("Condition", {}).values() for k in pairs}
                    assert keys & {"aws:SourceArn", "aws:SourceAccount"}, (logical_id, statement)
