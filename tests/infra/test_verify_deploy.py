"""`make verify-deploy` (infra/verify_deploy.py) against moto and the project's local gateway.

AWS is moto (`mock_aws`: CloudWatch alarms and metrics, SNS topic and subscriptions, Secrets Manager, STS);
the API is `local.gateway.LocalApiGateway` on localhost, which verifies the SigV4 signature of every
request like API Gateway's IAM auth, in front of a small handler that answers as the service does
(`/swagger`, dry-run rejects and error codes). What moto cannot do is faked at its edge: CloudWatch does
not notify SNS in moto, so the test's `sleep` publishes the topic's delivery metrics as SNS would;
`PendingConfirmation` and the alarm action history are faked around the moto clients.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra import verify_deploy
from infra.verify_deploy import FAIL, OK, WARN, StackOutputs, alarm_drill, load_outputs
from local.gateway import LocalApiGateway, LocalPrincipal

REGION = "us-east-1"
STACK = "MTurkDecisions"
CALLER = LocalPrincipal(
    access_key_id="FAKEVERIFYDEPLOYTEST",
    secret_access_key="verify-deploy-test-secret-not-a-real-key",
    arn="arn:aws:iam::123456789012:user/operator",
)
DRILL_ALARM = f"{STACK}-ApiHandler-Fault-Count-Critical"
SUBMITTED, REJECTED, NO_KEYS, UNKNOWN = "3SUBMITTEDAAAAAAAAAAAAAAAAAAAA", "3REJECTEDAAAAAAAAAAAAAAAAAAAAA", "3NOKEYS", "3UNKNOWN"


# ---- the API: the local gateway in front of a handler that answers like the service -----------------
def proxy(status: int, body: Any, content_type: str = "application/json") -> dict:
    text = body if isinstance(body, str) else json.dumps(body)
    return {"statusCode": status, "headers": {"Content-Type": content_type}, "body": text}


def service_handler(calls: list[dict]) -> Callable[[dict, Any], dict]:
    def handle(event: dict, _context: Any) -> dict:
        calls.append(event)
        path, method = event["path"], event["httpMethod"]
        if method == "GET" and path == "/swagger":
            return proxy(200, "<!doctype html><title>mturk-decisions</title>", "text/html")
        if method == "POST" and path.endswith("/reject"):
            assignment = path.split("/")[2]
            if assignment == SUBMITTED:
                return proxy(200, {"dryRun": True, "plan": {
                    "action": "reject", "assignmentId": assignment, "currentStatus": "Submitted",
                    "resultingStatus": "Rejected", "checksPassed": ["FEEDBACK_VALID", "ASSIGNMENT_SUBMITTED"]},
                    "message": "Dry run: every pre-check passed. Nothing was sent to MTurk and nothing was written."})
            if assignment == REJECTED:
                return proxy(409, {"code": "INVALID_ASSIGNMENT_STATE", "message": "The assignment is Rejected.",
                                   "currentStatus": "Rejected"})
            if assignment == NO_KEYS:
                return proxy(502, {"code": "MTURK_CREDENTIALS_INVALID", "message": "The MTurk secret has no value."})
            return proxy(404, {"code": "ASSIGNMENT_NOT_FOUND", "message": "No such assignment."})
        return proxy(404, {"code": "NOT_FOUND", "message": "No route"})

    return handle


@pytest.fixture()
def calls() -> list[dict]:
    return []


@pytest.fixture()
def gateway(calls):
    with LocalApiGateway(service_handler(calls), [CALLER], region=REGION) as running:
        yield running


# ---- AWS: moto ------------------------------------------------------------------------------------
class Deployed:
    """The stack's AWS side in moto: alarm topic, alarms, the MTurk secret."""

    def __init__(self) -> None:
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.topic_arn = self.sns.create_topic(Name=f"{STACK}-OperationsAlarmTopic909EF7A3-AbCdEf")["TopicArn"]
        self.topic_name = self.topic_arn.split(":")[-1]
        self.secret_arn = self.secrets.create_secret(Name="MTurkSecret6B21B57C-abc")["ARN"]

    def add_alarm(self, name: str, state: str = "OK", actions_enabled: bool = True) -> None:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum", Period=300,
            EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[self.topic_arn], OKActions=[self.topic_arn], ActionsEnabled=actions_enabled,
            TreatMissingData="notBreaching",
        )
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="evaluated")

    def subscribe(self, address: str = "ops@example.com") -> None:
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="email", Endpoint=address)

    def put_keys(self) -> None:
        self.secrets.put_secret_value(SecretId=self.secret_arn,
                                      SecretString=json.dumps({"accessKeyId": "AKIA", "secretAccessKey": "x"}))

    def sns_reports(self, **sums: float) -> None:
        """What SNS puts in CloudWatch after a publish (moto's CloudWatch does not notify SNS itself)."""
        self.cloudwatch.put_metric_data(Namespace="AWS/SNS", MetricData=[
            {"MetricName": name, "Dimensions": [{"Name": "TopicName", "Value": self.topic_name}], "Value": value,
             "Unit": "Count"} for name, value in sums.items()])

    def alarm(self, name: str = DRILL_ALARM) -> dict:
        return self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]

    def outputs(self, api_url: str) -> dict[str, str]:
        return {"ApiUrl": api_url, "AlarmTopicArn": self.topic_arn, "MTurkSecretArn": self.secret_arn,
                "DashboardName": f"{STACK}-operations"}


@pytest.fixture()
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CALLER.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CALLER.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield Deployed()


def session_factory(profile: str | None) -> boto3.Session:
    """The operator's session: the local gateway knows its key, moto accepts any."""
    return boto3.Session(aws_access_key_id=CALLER.access_key_id, aws_secret_access_key=CALLER.secret_access_key,
                         region_name=REGION)


def write_outputs(tmp_path: Path, outputs: dict[str, str]) -> Path:
    outdir = tmp_path / "cdk.out"
    outdir.mkdir()
    (outdir / "outputs.json").write_text(json.dumps({STACK: outputs}))
    (tmp_path / "cdk.json").write_text(json.dumps({"context": {"stackName": STACK}}))
    return outdir


def run_main(outdir: Path, *extra: str, environ: dict | None = None,
             sleep: Callable[[float], None] = lambda seconds: None) -> tuple[int, str]:
    out = io.StringIO()
    code = verify_deploy.main(
        ["--outdir", str(outdir), "--cdk-json", str(outdir.parent / "cdk.json"), "--drill-wait", "5",
         "--poll-seconds", "1", *extra],
        environ=environ or {}, session_factory=session_factory, out=out, sleep=sleep,
    )
    return code, out.getvalue()


def line(output: str, check: str) -> str:
    found = [text for text in output.splitlines() if text.split()[1:2] == [check]]
    assert found, f"no {check} line in:\n{output}"
    return found[0]


# ---- the whole command ----------------------------------------------------------------------------
def test_given_a_healthy_deployment_when_verified_then_every_check_is_ok_and_notifications_arrive(
    aws, gateway, calls, tmp_path
):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.subscribe("ops@example.com")
    aws.put_keys()
    outdir = write_outputs(tmp_path, aws.outputs(gateway.url + "/"))
    states_during_drill = []

    def sns_delivers(_seconds: float) -> None:
        states_during_drill.append((aws.alarm()["StateValue"], aws.alarm()["StateReason"]))
        aws.sns_reports(NumberOfMessagesPublished=1, NumberOfNotificationsDelivered=1)

    # When
    code, output = run_main(outdir, environ={"SANDBOX_ASSIGNMENT_ID": SUBMITTED}, sleep=sns_delivers)

    # Then
    assert code == 0, output
    assert line(output, "api").startswith("OK") and "-> 200" in line(output, "api")
    assert line(output, "mturk-secret").startswith("OK")
    assert "Submitted -> Rejected" in line(output, "dry-run-reject")
    assert line(output, "alarm-subscription").startswith("OK") and "ops@example.com" in line(output, "alarm-subscription")
    assert line(output, "alarm-delivery").startswith("OK") and "notifications ARRIVE" in line(output, "alarm-delivery")
    assert states_during_drill[0][0] == "ALARM" and "alarm drill" in states_during_drill[0][1]
    assert aws.alarm()["StateValue"] == "OK" and "drill over" in aws.alarm()["StateReason"]
    # Then the calls were signed (the gateway refuses unsigned ones) and the reject was a dry run with a body.
    reject = [c for c in calls if c["httpMethod"] == "POST"][0]
    assert reject["queryStringParameters"] == {"dryRun": "true"}
    assert json.loads(reject["body"])["feedback"] and reject["requestContext"]["identity"]["userArn"] == CALLER.arn


def test_given_an_unconfirmed_email_when_verified_then_it_fails_and_says_to_confirm(aws, gateway, tmp_path, monkeypatch):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.put_keys()
    outdir = write_outputs(tmp_path, aws.outputs(gateway.url + "/"))
    # moto confirms e-mail subscriptions at once; SNS lists an unconfirmed one as PendingConfirmation.
    monkeypatch.setattr(verify_deploy.Subscriptions, "read", classmethod(
        lambda cls, sns, topic: cls(confirmed=(), pending=("email ops@example.com",))))

    # When
    code, output = run_main(outdir, environ={"SANDBOX_ASSIGNMENT_ID": SUBMITTED},
                            sleep=lambda s: aws.sns_reports(NumberOfMessagesPublished=1))

    # Then
    assert code == 1
    subscription = line(output, "alarm-subscription")
    assert subscription.startswith("FAIL") and "PendingConfirmation" in subscription
    assert "Confirm subscription" in subscription and "aws sns subscribe" in subscription
    assert aws.alarm()["StateValue"] == "OK"


def test_given_an_empty_secret_when_verified_then_it_fails_with_the_put_secret_value_command(aws, gateway, tmp_path):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.subscribe()
    outdir = write_outputs(tmp_path, aws.outputs(gateway.url + "/"))

    # When
    code, output = run_main(outdir, "--no-drill", environ={"SANDBOX_ASSIGNMENT_ID": NO_KEYS})

    # Then
    assert code == 1
    assert line(output, "mturk-secret").startswith("FAIL")
    assert f"put-secret-value --secret-id {aws.secret_arn}" in line(output, "mturk-secret")
    assert line(output, "dry-run-reject").startswith("FAIL") and "MTURK_CREDENTIALS_INVALID" in line(output, "dry-run-reject")
    assert line(output, "alarm-drill").startswith("WARN")


def test_given_credentials_the_api_does_not_know_when_verified_then_the_signed_call_fails_with_what_to_do(
    aws, tmp_path, calls
):
    # Given
    stranger = LocalPrincipal("FAKEOTHERPRINCIPAL01", "other-secret", "arn:aws:iam::123456789012:user/other")
    # When
    with LocalApiGateway(service_handler(calls), [stranger], region=REGION) as gateway:
        outdir = write_outputs(tmp_path, aws.outputs(gateway.url + "/"))

        code, output = run_main(outdir, "--no-drill")

    # Then
    assert code == 1
    assert line(output, "api").startswith("FAIL") and "403" in line(output, "api")
    assert calls == []


def test_given_no_assignment_id_when_verified_then_the_dry_run_is_skipped_with_a_hint(aws, gateway, tmp_path):
    # Given
    aws.put_keys()
    outdir = write_outputs(tmp_path, aws.outputs(gateway.url + "/"))

    # When
    _code, output = run_main(outdir, "--no-drill")

    # Then
    assert line(output, "dry-run-reject").startswith("WARN") and "SANDBOX_ASSIGNMENT_ID=" in line(output, "dry-run-reject")


@pytest.mark.parametrize(
    ("assignment", "level", "words"),
    [
        (SUBMITTED, OK, "checks passed: FEEDBACK_VALID, ASSIGNMENT_SUBMITTED"),
        (REJECTED, OK, "pre-check refused: 409 INVALID_ASSIGNMENT_STATE"),
        (UNKNOWN, WARN, "404 ASSIGNMENT_NOT_FOUND"),
        (NO_KEYS, FAIL, "502 MTURK_CREDENTIALS_INVALID"),
    ],
)
def test_given_an_assignment_when_the_dry_run_reject_answers_then_the_plan_or_code_is_reported(
    aws, gateway, assignment, level, words
):
    # Given
    from mturk_decisions_cli.client import ApiClient

    api = ApiClient(gateway.url + "/", boto3.Session(
        aws_access_key_id=CALLER.access_key_id, aws_secret_access_key=CALLER.secret_access_key).get_credentials(),
        REGION, retries=0)

    # When
    result = verify_deploy.check_dry_run_reject(api, assignment, aws.secret_arn)

    # Then
    assert (result.level, result.check) == (level, "dry-run-reject")
    assert words in result.message


# ---- the alarm drill ------------------------------------------------------------------------------
def drill(aws: Deployed, *, sleep: Callable[[float], None] = lambda s: None, cloudwatch: Any = None,
          wait: float = 3) -> dict[str, verify_deploy.Result]:
    results = alarm_drill(cloudwatch or aws.cloudwatch, aws.sns, STACK, aws.topic_arn, wait_seconds=wait,
                          poll_seconds=1, sleep=sleep)
    return {r.check: r for r in results}


def test_given_nobody_subscribed_when_drilled_then_it_warns_that_alarms_reach_no_one(aws):
    # Given
    aws.add_alarm(DRILL_ALARM)

    # When
    results = drill(aws, sleep=lambda s: aws.sns_reports(NumberOfMessagesPublished=1))

    # Then
    assert results["alarm-drill"].level == OK and results["alarm-publish"].level == OK
    assert results["alarm-subscription"].level == WARN and "-c alarmEmail=" in results["alarm-subscription"].fix
    assert "alarm-delivery" not in results


def test_given_sns_fails_the_deliveries_when_drilled_then_it_fails(aws):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.subscribe()

    # When
    results = drill(aws, sleep=lambda s: aws.sns_reports(NumberOfMessagesPublished=1, NumberOfNotificationsFailed=1))

    # Then
    assert results["alarm-delivery"].level == FAIL


def test_given_no_delivery_metric_within_the_wait_when_drilled_then_it_warns_to_check_the_inbox(aws):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.subscribe()
    clock = [0.0]

    def tick(seconds: float) -> None:
        clock[0] += seconds

    # When
    results = alarm_drill(aws.cloudwatch, aws.sns, STACK, aws.topic_arn, wait_seconds=3, poll_seconds=1, sleep=tick,
                          monotonic=lambda: clock[0])

    # Then
    by_check = {r.check: r for r in results}
    assert by_check["alarm-delivery"].level == WARN and "check the inbox" in by_check["alarm-delivery"].fix
    assert clock[0] == 3
    assert aws.alarm()["StateValue"] == "OK"


class HistoryCloudWatch:
    """moto's CloudWatch with the alarm's action history CloudWatch keeps (moto does not implement it)."""

    def __init__(self, client: Any, summary: str) -> None:
        self.client, self.summary = client, summary

    def describe_alarm_history(self, **_kwargs: Any) -> dict:
        return {"AlarmHistoryItems": [{"HistorySummary": self.summary, "HistoryItemType": "Action"}]}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_given_cloudwatch_cannot_publish_to_the_topic_when_drilled_then_it_fails_naming_the_key_policy(aws):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.subscribe()
    cloudwatch = HistoryCloudWatch(aws.cloudwatch, f"Failed to execute action {aws.topic_arn}. Received error: "
                                                   "KMS.AccessDeniedException")

    # When
    results = drill(aws, cloudwatch=cloudwatch)

    # Then
    assert results["alarm-publish"].level == FAIL and "cloudwatch.amazonaws.com" in results["alarm-publish"].fix
    assert aws.alarm()["StateValue"] == "OK"


def test_given_every_alarm_is_in_alarm_when_drilled_then_no_alarm_is_touched(aws):
    # Given
    aws.add_alarm(DRILL_ALARM, state="ALARM")

    # When
    results = drill(aws)

    # Then
    assert results["alarm-drill"].level == WARN
    assert aws.alarm()["StateValue"] == "ALARM"


def test_given_alarms_of_other_stacks_when_drilled_then_only_an_alarm_notifying_this_topic_is_used(aws):
    # Given
    aws.add_alarm(DRILL_ALARM)
    aws.cloudwatch.put_metric_alarm(
        AlarmName=f"{STACK}-Unrelated", MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum", Period=300,
        EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:other-topic"])

    # When
    alarms = verify_deploy.stack_alarms(aws.cloudwatch, STACK, aws.topic_arn)

    # Then
    assert [a["AlarmName"] for a in alarms] == [DRILL_ALARM]


# ---- where the outputs come from --------------------------------------------------------------------
def test_given_outputs_json_from_make_deploy_when_loaded_then_it_is_used(tmp_path):
    # Given
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({STACK: {"ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/v1/"}}))

    # When
    outputs = load_outputs(path, None, describe_stacks=None)

    # Then
    assert (outputs.stack_name, outputs.source, outputs.api_url) == (
        STACK, str(path), "https://abc.execute-api.eu-west-1.amazonaws.com/v1/")


def test_given_no_outputs_file_when_loaded_then_describe_stacks_gives_them(tmp_path):
    # Given
    described = {"Outputs": [{"OutputKey": "ApiUrl", "OutputValue": "https://x.execute-api.us-east-1.amazonaws.com/v1/"},
                             {"OutputKey": "AlarmTopicArn", "OutputValue": "arn:aws:sns:us-east-1:123456789012:t"}]}

    # When
    outputs = load_outputs(tmp_path / "missing.json", "MTurkDecisionsProd", describe_stacks=lambda name: described)

    # Then
    assert outputs.stack_name == "MTurkDecisionsProd" and outputs.source == "cloudformation describe-stacks"
    assert (outputs.region, outputs.account) == ("us-east-1", "123456789012")


def test_given_outputs_of_another_account_when_verified_then_it_fails_before_any_call(aws, tmp_path):
    # Given
    outputs = aws.outputs("https://abc.execute-api.us-east-1.amazonaws.com/v1/")
    outputs["AlarmTopicArn"] = outputs["AlarmTopicArn"].replace("123456789012", "444455556666")
    outdir = write_outputs(tmp_path, outputs)

    # When
    code, output = run_main(outdir)

    # Then
    assert code == 1
    assert line(output, "credentials").startswith("FAIL") and "444455556666" in line(output, "credentials")


def test_given_stack_outputs_without_an_api_url_when_run_then_it_fails(aws):
    # Given
    outputs = StackOutputs(STACK, {"AlarmTopicArn": aws.topic_arn}, "test")

    # When
    results = verify_deploy.run(outputs, session=session_factory(None), credentials=None, caller={},
                                assignment_id=None, drill=False)

    # Then
    assert [(r.level, r.check) for r in results] == [(FAIL, "outputs")]
