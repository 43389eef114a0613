"""Stack-level wiring: outputs, tags, environment, seams, and cfn-lint on the templates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import Environment

from infra.application import environment_from

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPECTED_OUTPUTS = {
    "ApiUrl",
    "MTurkSecretArn",
    "AuditTableName",
    "DataKeyArn",
    "AlarmTopicArn",
    "DashboardName",
    "WorkQueueUrl",
    "WorkDeadLetterQueueUrl",
    "BatchTableName",
    "EventBusName",
    "ReversalRequestsQueueUrl",
    "ReversalRequestsDeadLetterQueueUrl",
    "NotificationsQueueUrl",
    "NotificationsDeadLetterQueueUrl",
    "ScheduleTableName",
    "UploadBucketName",
    "UploadsDeadLetterQueueUrl",
}


def test_outputs_for_the_deploy_procedure(synth):
    # Given the stack outputs
    # When / Then the README's steps find everything they need
    assert set(synth.json["Outputs"]) == EXPECTED_OUTPUTS
    outputs = synth.json["Outputs"]
    assert outputs["MTurkSecretArn"]["Value"] == {"Ref": synth.logical_id(synth.stack.secret.secret)}
    # And the bulk resources an operator inspects or redrives (a queue's Ref is its URL)
    bulk = synth.stack.bulk
    assert outputs["WorkQueueUrl"]["Value"] == {"Ref": synth.logical_id(bulk.queue)}
    assert outputs["WorkDeadLetterQueueUrl"]["Value"] == {"Ref": synth.logical_id(bulk.dead_letter_queue)}
    assert outputs["BatchTableName"]["Value"] == {"Ref": synth.logical_id(bulk.table)}
    # And the event integration and automatic reversal resources (a bus's Ref is its name)
    events, reversals = synth.stack.events, synth.stack.reversals
    assert outputs["EventBusName"]["Value"] == {"Ref": synth.logical_id(events.bus)}
    assert outputs["ReversalRequestsQueueUrl"]["Value"] == {"Ref": synth.logical_id(events.reversal_requests.queue)}
    assert outputs["ReversalRequestsDeadLetterQueueUrl"]["Value"] == {
        "Ref": synth.logical_id(events.reversal_requests.dead_letter_queue)
    }
    assert outputs["NotificationsQueueUrl"]["Value"] == {"Ref": synth.logical_id(events.notifications.queue)}
    assert outputs["NotificationsDeadLetterQueueUrl"]["Value"] == {
        "Ref": synth.logical_id(events.notifications.dead_letter_queue)
    }
    assert outputs["ScheduleTableName"]["Value"] == {"Ref": synth.logical_id(reversals.table)}
    # And the upload bucket (its name is fixed: <stack>-uploads-<account>-<region>) and the uploads DLQ
    uploads = synth.stack.uploads
    assert outputs["UploadBucketName"]["Value"] == {"Ref": synth.logical_id(uploads.bucket)}
    assert outputs["UploadsDeadLetterQueueUrl"]["Value"] == {"Ref": synth.logical_id(uploads.dead_letter_queue)}
    for name, output in outputs.items():
        assert output.get("Description"), name


def test_stack_is_environment_agnostic_without_cdk_default_env(synth):
    # Given no CDK_DEFAULT_ACCOUNT/REGION
    # When / Then nothing was resolved at synth time
    assert environment_from({}) is None
    assert synth.stack.resolve(synth.stack.region) == {"Ref": "AWS::Region"}
    assert synth.stack.resolve(synth.stack.account) == {"Ref": "AWS::AccountId"}


def test_environment_comes_from_the_cli_defaults():
    # Given the variables the CDK CLI sets from the caller's credentials
    # When / Then the stack targets them
    env = environment_from({"CDK_DEFAULT_ACCOUNT": "123456789012", "CDK_DEFAULT_REGION": "eu-west-1"})
    assert isinstance(env, Environment)
    assert (env.account, env.region) == ("123456789012", "eu-west-1")


def test_resources_are_tagged(synth):
    # Given the tables
    # When / Then they carry the project tags
    table = synth.resource(synth.stack.audit_store.audit_table)
    assert {"Key": "project", "Value": "mturk-decisions"} in table["Properties"]["Tags"]


def test_stack_exposes_the_seams_for_later_constructs(synth):
    # Given the stack
    # When / Then later constructs find the shared pieces on it
    stack = synth.stack
    assert stack.audit_store.audit_table is not None and stack.audit_store.idempotency_table is not None
    assert stack.secret.secret is not None
    assert [layer for layer in stack.layers.all] == [stack.layers.powertools, stack.layers.pynamodb]
    assert stack.alarm_topic is stack.operations.alarm_topic
    assert stack.bulk.table is not None and stack.bulk.queue is not None and stack.bulk.worker is not None
    assert stack.reversals.table is not None and callable(stack.reversals.grant_schedule_write)
    assert stack.events.bus is not None and callable(stack.events.add_publisher)
    assert callable(stack.api.add_route) and callable(stack.api.add_json_model)
    for seam in ("create",):
        assert callable(getattr(stack.functions, seam))
    for seam in ("grant_audit_write", "grant_audit_read", "grant_idempotency"):
        assert callable(getattr(stack.audit_store, seam))
    for seam in ("alarm_on_queue_depth", "alarm_on_queue_age", "monitor_function", "monitor_table"):
        assert callable(getattr(stack.operations, seam))


@pytest.mark.parametrize("variant", ["synth", "restricted_synth"])
def test_cfn_lint_finds_nothing(variant, request):
    # Given a synthesized template
    synth = request.getfixturevalue(variant)
    template = synth.outdir / synth.stack.template_file
    # When the cfn-lint CLI checks it with the repository's .cfnlintrc (as `make lint-infra` does)
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", str(template)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr
