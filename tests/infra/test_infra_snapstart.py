"""SnapStart (issue 13): the functions on a request path resume from a snapshot of a published version, and
everything that invokes them invokes that version through the `live` alias.

- On: the API handler and the queue consumers (batch worker, Reversal Requested events, MTurk notifications,
  upload parser): a requester waits on each, and their traffic is rare enough that nearly every invocation
  meets a cold environment.
- Off: the scheduled sweeper (every minute) and reconciler (every 5 minutes): nobody waits on them, their
  schedule keeps an environment warm most of the time, and a Python SnapStart version is billed for its
  cached snapshot and for each restore.
"""
from __future__ import annotations

import json

import pytest

from infra.constructs.functions import LIVE_ALIAS
from infra.constructs.layers import ARCHITECTURE

SNAPSTART = {
    "api": lambda stack: stack.api.function,
    "batch worker": lambda stack: stack.bulk.worker,
    "events consumer": lambda stack: stack.events.events_consumer,
    "notifications consumer": lambda stack: stack.events.notifications_consumer,
    "upload parser": lambda stack: stack.uploads.parser,
}
NO_SNAPSTART = {
    "sweeper": lambda stack: stack.reversals.sweeper,
    "reconciler": lambda stack: stack.reversals.reconciler,
}
QUEUE_CONSUMERS = [name for name in SNAPSTART if name != "api"]


def _versions_of(synth, function) -> dict[str, dict]:
    return {lid: r["Properties"] for lid, r in synth.resources("AWS::Lambda::Version").items()
            if r["Properties"]["FunctionName"] == synth.ref(function)}


def _aliases_of(synth, function) -> dict[str, dict]:
    return {lid: r["Properties"] for lid, r in synth.resources("AWS::Lambda::Alias").items()
            if r["Properties"]["FunctionName"] == synth.ref(function)}


@pytest.mark.parametrize("name", SNAPSTART)
def test_a_request_path_function_snapshots_its_published_versions(synth, name):
    # Given a function a requester waits on
    function = SNAPSTART[name](synth.stack)
    props = synth.props(function)
    # Then SnapStart applies to its published versions, on the stack's architecture (arm64 supports it)
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == [ARCHITECTURE.name]
    # And it has one published version (a new one on every change, the replaced one deleted, not retained)
    [(version_id, version)] = _versions_of(synth, function).items()
    assert synth.json["Resources"][version_id]["DeletionPolicy"] == "Delete"
    # And one alias, `live`, on that version
    [alias] = _aliases_of(synth, function).values()
    assert alias["Name"] == LIVE_ALIAS
    assert alias["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}


@pytest.mark.parametrize("name", NO_SNAPSTART)
def test_a_scheduled_function_starts_cold_without_versions_or_aliases(synth, name):
    # Given a function only a schedule invokes (no one waits on it; the schedule keeps it warm)
    function = NO_SNAPSTART[name](synth.stack)
    # Then it has no SnapStart, no published version and no alias (its schedule invokes $LATEST)
    assert "SnapStart" not in synth.props(function)
    assert _versions_of(synth, function) == {}
    assert _aliases_of(synth, function) == {}


def test_every_api_method_invokes_the_live_alias(synth):
    # Given the API function's live alias
    alias_id = synth.invoked_id(synth.stack.api.function)
    assert synth.json["Resources"][alias_id]["Type"] == "AWS::Lambda::Alias"
    # Then every method's integration URI names the alias (not the function: $LATEST has no snapshot)
    methods = synth.resources("AWS::ApiGateway::Method")
    assert methods
    for props in (m["Properties"] for m in methods.values()):
        uri = json.dumps(props["Integration"]["Uri"])
        assert alias_id in uri, uri
        assert synth.logical_id(synth.stack.api.function) not in uri


def test_api_gateway_may_invoke_the_alias_of_this_api_only(synth):
    # Given the permissions granted to API Gateway
    [permission] = [p["Properties"] for p in synth.resources("AWS::Lambda::Permission").values()
                    if p["Properties"]["Principal"] == "apigateway.amazonaws.com"]
    # Then the one permission is on the alias, from this REST API only
    assert permission["FunctionName"] == {"Ref": synth.invoked_id(synth.stack.api.function)}
    assert permission["Action"] == "lambda:InvokeFunction"
    assert synth.logical_id(synth.stack.api.api) in json.dumps(permission["SourceArn"])


@pytest.mark.parametrize("name", QUEUE_CONSUMERS)
def test_a_queue_consumer_is_triggered_through_its_live_alias(synth, name):
    # Given a queue consumer's event source mapping
    function = SNAPSTART[name](synth.stack)
    mapping = synth.event_source_mapping(function)
    # Then its FunctionName is the alias (`<function>:live`), not the unqualified function
    target = json.dumps(mapping["FunctionName"])
    assert synth.invoked_id(function) in target and target.endswith(f'":{LIVE_ALIAS}"]]}}')
    assert mapping["FunctionName"] != synth.ref(function)


def test_no_trigger_or_integration_invokes_a_snapstart_function_unqualified(synth):
    # Given the SnapStart functions
    functions = {synth.logical_id(get(synth.stack)) for get in SNAPSTART.values()}
    # Then no event source mapping, permission or method names one of them directly
    invokers = [*synth.resources("AWS::Lambda::EventSourceMapping").values(),
                *synth.resources("AWS::Lambda::Permission").values()]
    for resource in invokers:
        assert not functions & set(_referenced(resource["Properties"]["FunctionName"])), resource
    for method in synth.resources("AWS::ApiGateway::Method").values():
        assert not functions & set(_referenced(method["Properties"]["Integration"]["Uri"])), method


@pytest.mark.parametrize("name", QUEUE_CONSUMERS)
def test_the_alias_acts_with_the_functions_own_role(synth, name):
    # Given a consumer polled through its alias
    function = SNAPSTART[name](synth.stack)
    # Then what polling needs was granted to the function's role (the alias has no role of its own): the
    # same grants as before SnapStart, on its queue only
    polling = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}
    queue_arn = json.dumps(synth.event_source_mapping(function)["EventSourceArn"], sort_keys=True)
    granted = {action for action, resource in synth.grants(function) if resource == queue_arn}
    assert polling <= granted
    # And no statement anywhere names the alias
    for policy in synth.resources("AWS::IAM::Policy").values():
        assert synth.invoked_id(function) not in json.dumps(policy["Properties"]["PolicyDocument"])


def _referenced(value) -> list[str]:
    """Logical ids named by `Ref` / `Fn::GetAtt` anywhere in `value`."""
    if isinstance(value, dict):
        found = []
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.append(inner)
            elif key == "Fn::GetAtt":
                found.append(inner[0])
            else:
                found.extend(_referenced(inner))
        return found
    if isinstance(value, list):
        return [name for inner in value for name in _referenced(inner)]
    return []
