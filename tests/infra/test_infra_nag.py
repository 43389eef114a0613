"""cdk-nag (AwsSolutions): no unacknowledged finding; acknowledgments are few, narrow, justified."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack, Validations
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from infra.nag import add_nag_checks

UPLOAD_KEYS = "<BatchUploadsBucket8BEB8016.Arn>/uploads/*"
# Every acknowledgment of the stack but the COG4 ones of the API's methods (`_cog4_acknowledgments`),
# by rule id -> construct path (relative to the stack).
EXPECTED_ACKNOWLEDGMENTS = {
    ("AwsSolutions-SMG4", "MTurkSecret/Secret"),
    ("AwsSolutions-L1", "DecisionApi/Handler/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "DecisionApi/Handler/Role/DefaultPolicy"),
    # The batch worker gets the same two as every function of the factory.
    ("AwsSolutions-L1", "BulkDecisions/Worker/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "BulkDecisions/Worker/Role/DefaultPolicy"),
    # So do the functions of automatic reversals and event integration; nothing else is acknowledged
    # for them (no wildcard resource beyond X-Ray's, encrypted TLS-only queues with DLQs).
    ("AwsSolutions-L1", "AutomaticReversals/Sweeper/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "AutomaticReversals/Sweeper/Role/DefaultPolicy"),
    ("AwsSolutions-L1", "AutomaticReversals/Reconciler/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "AutomaticReversals/Reconciler/Role/DefaultPolicy"),
    ("AwsSolutions-L1", "EventIntegration/EventsConsumer/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "EventIntegration/EventsConsumer/Role/DefaultPolicy"),
    ("AwsSolutions-L1", "EventIntegration/NotificationsConsumer/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "EventIntegration/NotificationsConsumer/Role/DefaultPolicy"),
    ("AwsSolutions-APIG3", "DecisionApi/RestApi/DeploymentStage.v1"),
    # Uploaded batches: the parser gets the factory's two; the API's presign and the parser's read cover the
    # upload keys (`uploads/*`: each key names a batch made per request); the upload bucket has no server
    # access logs (who uploads is the API's to say: POST /batches/uploads is its access log's).
    ("AwsSolutions-L1", "BatchUploads/Parser/Function"),
    ("AwsSolutions-IAM5[Resource::*]", "BatchUploads/Parser/Role/DefaultPolicy"),
    (f"AwsSolutions-IAM5[Resource::{UPLOAD_KEYS}]", "BatchUploads/Parser/Role/DefaultPolicy"),
    (f"AwsSolutions-IAM5[Resource::{UPLOAD_KEYS}]", "DecisionApi/Handler/Role/DefaultPolicy"),
    ("AwsSolutions-S1", "BatchUploads/Bucket"),
}


def _cog4_acknowledgments(api_routes) -> set[tuple[str, str]]:
    """COG4 (IAM authorization instead of Cognito) on the method of every route of the API."""
    return {("AwsSolutions-COG4", f"DecisionApi/RestApi/Default{path}/{verb}") for verb, path in api_routes}


def _acknowledgments(stack: Stack) -> dict[tuple[str, str], str]:
    found = {}
    prefix = stack.node.path + "/"
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in dict(entry.data).items():
                    found[(rule_id.split("::", 1)[-1], construct.node.path.removeprefix(prefix))] = reason
    return found


@pytest.mark.parametrize("variant", ["synth", "restricted_synth"])
def test_awssolutions_pack_reports_no_finding(variant, request):
    # Given a synthesized variant (its synth already ran the AwsSolutions plugin and did not fail)
    synth = request.getfixturevalue(variant)
    # When the pack is run again directly on the stack
    report = AwsSolutionsChecks(verbose=True).validate_scope(synth.stack)
    # Then there is nothing unacknowledged
    assert report.success, [(v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations]
    # And no construct carries an error annotation
    assert Annotations.from_stack(synth.stack).find_error("*", Match.any_value()) == []


def test_acknowledgments_are_exactly_the_reviewed_ones_each_with_a_reason(synth, api_routes):
    # Given the acknowledgments recorded on the stack's constructs
    acknowledgments = _acknowledgments(synth.stack)
    # Then they are the reviewed set, each on the construct that owns the finding
    # (one COG4 per method: the 16 routes of conftest.API_ROUTES)
    assert len(api_routes) == 16
    assert set(acknowledgments) == EXPECTED_ACKNOWLEDGMENTS | _cog4_acknowledgments(api_routes)
    # And each one states a real reason
    for key, reason in acknowledgments.items():
        assert len(reason) >= 80, key


def test_an_unacknowledged_finding_fails_synth():
    # Given an app with the same nag wiring and a topic without TLS enforcement or encryption
    app = App()
    stack = Stack(app, "NagProbe")
    sns.Topic(stack, "Topic")
    add_nag_checks(app)
    # When / Then synthesis fails on the AwsSolutions findings
    with pytest.raises(RuntimeError, match=r"ValidationFailed(.|\n)*AwsSolutions-SNS3"):
        app.synth()
