"""`make verify-deploy`: check a deployed stack end to end, with the operator's credentials.

    python -m infra.verify_deploy [--outdir cdk.out] [--stack-name NAME] [--assignment-id ID]
                                  [--no-drill] [--drill-wait SECONDS] [CDK_OPTS...]

Reads the stack's outputs (`cdk.out/outputs.json`, written by `make deploy`, else
`cloudformation describe-stacks`), then prints one line per check, OK / WARN / FAIL and what to do,
and exits 1 if any check FAILs:

- outputs          the stack's outputs were found (ApiUrl, AlarmTopicArn, MTurkSecretArn);
- credentials      the credentials are for the stack's account;
- api              a SigV4-signed `GET {ApiUrl}swagger` answers 200 (IAM auth, resource policy, the handler);
- mturk-secret     the MTurk key secret has a value (`describe-secret`: the value itself is never read);
- dry-run-reject   with SANDBOX_ASSIGNMENT_ID / --assignment-id: a signed
                   `POST /assignments/{id}/reject?dryRun=true` (nothing is sent to MTurk or written), which
                   exercises the secret, the keys and MTurk: the plan, or the error code and what it means;
- alarm-drill      sets one of the stack's alarms to ALARM (`set-alarm-state`, reason naming the drill),
  alarm-publish    reads whether CloudWatch could publish to the alarm topic (alarm history, the topic's
  alarm-subscription  NumberOfMessagesPublished), the topic's subscriptions (`PendingConfirmation`: the
  alarm-delivery   e-mail was never confirmed) and its delivery metrics (NumberOfNotificationsDelivered /
                   NumberOfNotificationsFailed, polled up to --drill-wait seconds), then sets the alarm back to
                   OK. Expect two e-mails: "ALARM: ..." and "OK: ...". `--no-drill` (NO_DRILL=1) skips it.

`CDK_OPTS` (the same as for `make deploy`) gives `--profile` and `-c stackName=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.check_lines import CheckLine
from infra.preflight import operator_context, parse_cdk_opts, truthy

OK, WARN, FAIL = "OK", "WARN", "FAIL"
DEFAULT_STACK_NAME = "MTurkDecisions"
DRILL_REASON = "verify-deploy alarm drill (make verify-deploy): not a real incident, set back to OK right away"
DRILL_OVER = "verify-deploy alarm drill over: back to OK (the alarm evaluates its metric again as usual)"
DRY_RUN_BODY = {
    "feedback": "verify-deploy dry run: nothing is sent to MTurk.",
    "reason": "make verify-deploy (dry run, nothing written)",
}
# Refusals by a pre-check: the call reached MTurk with the stored keys, only this assignment cannot be rejected.
PRECHECK_REFUSALS = {
    "INVALID_ASSIGNMENT_STATE",
    "REVERSAL_WINDOW_CLOSED",
    "REVERSAL_WINDOW_CLOSING",
    "HIT_DISPOSED",
    "DECISION_IN_PROGRESS",
    "REVERSAL_ALREADY_SCHEDULED",
    "INSUFFICIENT_FUNDS",
}


class Result(CheckLine):
    """A verify-deploy check's line: OK, WARN or FAIL."""

    def line(self, level_width: int = 4, check_width: int = 18) -> str:
        return super().line(level_width, check_width)


# ---- the stack's outputs --------------------------------------------------------------------------
@dataclass(frozen=True)
class StackOutputs:
    stack_name: str
    values: Mapping[str, str]
    source: str

    @property
    def api_url(self) -> str | None:
        if self.values.get("ApiUrl"):
            return self.values["ApiUrl"]
        for value in self.values.values():  # any output that is an execute-api URL
            if isinstance(value, str) and value.startswith("https://") and ".execute-api." in value:
                return value
        return None

    @property
    def topic_arn(self) -> str | None:
        return self.values.get("AlarmTopicArn")

    @property
    def region(self) -> str | None:
        for key in ("AlarmTopicArn", "MTurkSecretArn"):
            parts = str(self.values.get(key, "")).split(":")
            if len(parts) > 4 and parts[3]:
                return parts[3]
        return None

    @property
    def account(self) -> str | None:
        parts = str(self.values.get("AlarmTopicArn", "")).split(":")
        return parts[4] if len(parts) > 4 and parts[4] else None


def load_outputs(
    outputs_file: Path, stack_name: str | None, describe_stacks: Callable[[str], Mapping[str, Any]] | None
) -> StackOutputs:
    """From `outputs_file` (cdk deploy --outputs-file) when it has the stack, else from describe-stacks."""
    if outputs_file.exists():
        data = json.loads(outputs_file.read_text() or "{}")
        if stack_name and stack_name in data:
            return StackOutputs(stack_name, data[stack_name], str(outputs_file))
        if not stack_name and len(data) == 1:
            name, values = next(iter(data.items()))
            return StackOutputs(name, values, str(outputs_file))
    name = stack_name or DEFAULT_STACK_NAME
    if describe_stacks is None:
        raise LookupError(f"{outputs_file} has no stack {name} and describe-stacks is not available")
    stack = describe_stacks(name)
    values = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    return StackOutputs(name, values, "cloudformation describe-stacks")


# ---- the API --------------------------------------------------------------------------------------
def _api_error(response: Any) -> str:
    body = response.body if isinstance(response.body, dict) else {}
    code = body.get("code") or f"HTTP {response.status}"
    message = str(body.get("message") or "").strip()
    return f"{response.status} {code}" + (f": {message[:200]}" if message else "")


def _denied_fix(code: str | None, caller: str) -> str:
    if code == "ACCESS_DENIED":
        return (f"{caller} may not invoke the API: add it to allowedPrincipals (make deploy CDK_OPTS=\"... "
                "-c allowedPrincipals=<ARN>,...\") and/or give it execute-api:Invoke on the API")
    if code == "MISSING_AUTHENTICATION_TOKEN":
        return "the URL or stage is wrong (API Gateway answers this for unknown paths): check the ApiUrl output"
    return "see the error; docs/deploy.md lists what each code means"


def check_swagger(api: Any, caller: str) -> Result:
    from mturk_decisions_cli.errors import CliError

    check = "api"
    url = api.url("/swagger")
    try:
        response = api.request("GET", "/swagger")
    except CliError as error:
        return Result(FAIL, check, f"GET {url}: {error}", getattr(error, "hint", "") or "check the network and ApiUrl")
    if response.status == 200:
        return Result(OK, check, f"signed GET {url} -> 200 (as {caller})")
    if response.status == 403:
        return Result(FAIL, check, f"signed GET {url} -> {_api_error(response)}", _denied_fix(response.code, caller))
    if response.status >= 500:
        return Result(FAIL, check, f"signed GET {url} -> {_api_error(response)}",
                      "the API handler failed: read its log group (DecisionApi Handler) and the dashboard")
    return Result(FAIL, check, f"signed GET {url} -> {_api_error(response)}", "unexpected answer")


def check_dry_run_reject(api: Any, assignment_id: str, secret_arn: str | None) -> Result:
    from mturk_decisions_cli.client import quote_segment
    from mturk_decisions_cli.errors import CliError

    check = "dry-run-reject"
    path = f"/assignments/{quote_segment(assignment_id)}/reject"
    try:
        response = api.request("POST", path, json=DRY_RUN_BODY, query={"dryRun": True})
    except CliError as error:
        return Result(FAIL, check, f"POST {path}?dryRun=true: {error}", getattr(error, "hint", "") or "")
    body = response.body if isinstance(response.body, dict) else {}
    code = response.code
    if response.status == 200 and body.get("dryRun"):
        plan = body.get("plan") or {}
        checks = ", ".join(plan.get("checksPassed") or [])
        return Result(OK, check, f"plan for {assignment_id}: {plan.get('currentStatus')} -> "
                                 f"{plan.get('resultingStatus')}, checks passed: {checks or 'none listed'}; "
                                 "nothing was sent to MTurk or written")
    if code == "MTURK_CREDENTIALS_INVALID":
        return Result(FAIL, check, f"{_api_error(response)}",
                      "put the MTurk requester key pair: aws secretsmanager put-secret-value --secret-id "
                      f"{secret_arn or '<MTurkSecretArn>'} --secret-string "
                      "'{\"accessKeyId\":\"...\",\"secretAccessKey\":\"...\"}' (sandbox keys for a sandbox stack)")
    if code == "ASSIGNMENT_NOT_FOUND":
        return Result(WARN, check, f"MTurk answered with the stored keys, but {_api_error(response)}",
                      "use an assignment of this requester at the stack's MTurk endpoint (sandbox ids do not exist "
                      "in production and the reverse)")
    if code in PRECHECK_REFUSALS:
        return Result(OK, check, f"MTurk reached with the stored keys; the pre-check refused: {_api_error(response)} "
                                 "(a Submitted assignment shows a full plan)")
    if code in ("MTURK_THROTTLED", "MTURK_FAULT"):
        return Result(WARN, check, _api_error(response), "MTurk throttled or failed: run again in a minute")
    if response.status == 403:
        return Result(FAIL, check, _api_error(response), _denied_fix(code, "the caller"))
    return Result(FAIL, check, _api_error(response),
                  "see docs/deploy.md (error codes); the handler's logs have the requestId")


def check_secret(secretsmanager: Any, secret_arn: str | None) -> Result:
    check = "mturk-secret"
    if not secret_arn:
        return Result(WARN, check, "no MTurkSecretArn output", "not checked")
    try:
        described = secretsmanager.describe_secret(SecretId=secret_arn)
    except Exception as error:
        return Result(WARN, check, f"could not describe the secret: {_error_text(error)}", "not checked")
    stages = described.get("VersionIdsToStages") or {}
    if any("AWSCURRENT" in labels for labels in stages.values()):
        changed = described.get("LastChangedDate")
        when = f" (last changed {changed:%Y-%m-%d %H:%M} UTC)" if isinstance(changed, datetime) else ""
        return Result(OK, check, f"the MTurk key secret has a value{when}; the value was not read")
    return Result(
        FAIL,
        check,
        "the MTurk key secret is empty: every decision answers 502 MTURK_CREDENTIALS_INVALID",
        f"aws secretsmanager put-secret-value --secret-id {secret_arn} --secret-string "
        "'{\"accessKeyId\":\"<MTurk IAM user key id>\",\"secretAccessKey\":\"<its secret>\"}'",
    )


# ---- the alarm drill ------------------------------------------------------------------------------
def _error_text(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        err = response.get("Error") or {}
        return f"{err.get('Code', type(error).__name__)}: {err.get('Message', '')}".strip().rstrip(":")
    return f"{type(error).__name__}: {error}"


def stack_alarms(cloudwatch: Any, stack_name: str, topic_arn: str) -> list[Mapping[str, Any]]:
    """The metric alarms that notify `topic_arn`: named `<stackName>-...` first, else any alarm of the account."""

    def alarms(**kwargs: Any) -> list[Mapping[str, Any]]:
        found = []
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"], **kwargs):
            found += [a for a in page.get("MetricAlarms", []) if topic_arn in (a.get("AlarmActions") or [])]
        return found

    return alarms(AlarmNamePrefix=f"{stack_name}-") or alarms()


def pick_drill_alarm(alarms: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """An alarm that is not in ALARM now (a real one must not be hidden), OK first."""
    for state in ("OK", "INSUFFICIENT_DATA"):
        candidates = sorted((a for a in alarms if a.get("StateValue") == state), key=lambda a: a["AlarmName"])
        if candidates:
            return candidates[0]
    return None


@dataclass(frozen=True)
class Subscriptions:
    confirmed: tuple[str, ...]  # "protocol endpoint"
    pending: tuple[str, ...]

    @classmethod
    def read(cls, sns: Any, topic_arn: str) -> Subscriptions:
        confirmed, pending = [], []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                label = f"{sub.get('Protocol')} {sub.get('Endpoint')}"
                arn = str(sub.get("SubscriptionArn", ""))
                if arn == "PendingConfirmation":
                    pending.append(label)
                elif arn.startswith("arn:"):
                    confirmed.append(label)
        return cls(tuple(confirmed), tuple(pending))


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def topic_sums(cloudwatch: Any, topic_name: str, since: datetime, now: datetime) -> dict[str, float]:
    """Sums of the topic's SNS metrics from the minute of `since` to now."""
    sums = {}
    for metric in ("NumberOfMessagesPublished", "NumberOfNotificationsDelivered", "NumberOfNotificationsFailed"):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SNS",
            MetricName=metric,
            Dimensions=[{"Name": "TopicName", "Value": topic_name}],
            StartTime=_minute(since),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["Sum"],
        ).get("Datapoints", [])
        sums[metric] = sum(p.get("Sum", 0) for p in points)
    return sums


def action_history(cloudwatch: Any, alarm_name: str, since: datetime) -> list[str] | None:
    """Summaries of the alarm's action history since `since` (None if it cannot be read)."""
    try:
        items = cloudwatch.describe_alarm_history(
            AlarmName=alarm_name, HistoryItemType="Action", StartDate=since - timedelta(seconds=5), MaxRecords=20
        ).get("AlarmHistoryItems", [])
    except Exception:  # not allowed, not implemented (moto): the metrics still tell
        return None
    return [str(item.get("HistorySummary", "")) for item in items]


def alarm_drill(
    cloudwatch: Any,
    sns: Any,
    stack_name: str,
    topic_arn: str,
    *,
    wait_seconds: float = 120,
    poll_seconds: float = 10,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Result]:
    topic_name = topic_arn.split(":")[-1]
    try:
        alarms = stack_alarms(cloudwatch, stack_name, topic_arn)
        subscriptions = Subscriptions.read(sns, topic_arn)
    except Exception as error:
        return [Result(FAIL, "alarm-drill", f"could not read the alarms or the topic: {_error_text(error)}",
                       "the drill needs cloudwatch:DescribeAlarms and sns:ListSubscriptionsByTopic")]
    results = [_subscription_result(subscriptions, topic_arn)]
    if not alarms:
        return [Result(FAIL, "alarm-drill", f"no alarm notifies {topic_arn}",
                       "redeploy (make deploy): every alarm of the stack notifies the alarm topic"), *results]
    alarm = pick_drill_alarm(alarms)
    if alarm is None:
        return [Result(WARN, "alarm-drill", f"every one of the {len(alarms)} alarms is in ALARM right now: no drill",
                       "look at the dashboard and the alarms first"), *results]
    name = alarm["AlarmName"]
    if alarm.get("ActionsEnabled") is False:
        return [Result(FAIL, "alarm-drill", f"{name} has its actions disabled: it notifies nobody",
                       f"aws cloudwatch enable-alarm-actions --alarm-names {name}"), *results]

    started = utcnow()
    try:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=DRILL_REASON)
    except Exception as error:
        return [Result(FAIL, "alarm-drill", f"could not set {name} to ALARM: {_error_text(error)}",
                       "the drill needs cloudwatch:SetAlarmState (or run with NO_DRILL=1)"), *results]
    history: list[str] | None = None
    sums: dict[str, float] = {}
    reset_error = None
    try:
        history, sums = _watch_drill(cloudwatch, name, topic_name, started, subscriptions, wait_seconds,
                                     poll_seconds, sleep, monotonic, utcnow)
    finally:
        try:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=DRILL_OVER)
        except Exception as error:
            reset_error = _error_text(error)
    drill = Result(OK, "alarm-drill", f"{name} set to ALARM for the drill and back to OK")
    if reset_error:
        drill = Result(WARN, "alarm-drill", f"{name} set to ALARM but not back to OK: {reset_error}",
                       "it returns to OK by itself at its next evaluation (missing data is not breaching)")
    results = [drill, _publish_result(history, sums, topic_arn), *results]
    if subscriptions.confirmed:
        results.append(_delivery_result(sums, subscriptions, name, wait_seconds))
    return results


def _watch_drill(cloudwatch: Any, name: str, topic_name: str, started: datetime, subscriptions: Subscriptions,
                 wait_seconds: float, poll_seconds: float, sleep: Callable[[float], None],
                 monotonic: Callable[[], float], utcnow: Callable[[], datetime]) -> tuple[list[str] | None, dict]:
    """(the alarm's action history, the topic's SNS sums) once the drill settled or `wait_seconds` passed."""
    history: list[str] | None = None
    sums: dict[str, float] = {}
    deadline = monotonic() + wait_seconds
    history_readable = True
    while True:
        if history_readable:
            history = action_history(cloudwatch, name, started)
            history_readable = history is not None
        sums = topic_sums(cloudwatch, topic_name, started, utcnow())
        if _drill_settled(history, sums, subscriptions) or monotonic() >= deadline:
            return history, sums
        sleep(poll_seconds)


def _failed(history: Sequence[str] | None) -> list[str]:
    return [h for h in history or [] if h.lower().startswith("failed")]


def _succeeded(history: Sequence[str] | None) -> list[str]:
    return [h for h in history or [] if h.lower().startswith("successfully executed")]


def _drill_settled(history: list[str] | None, sums: Mapping[str, float], subscriptions: Subscriptions) -> bool:
    if _failed(history):
        return True
    published = bool(_succeeded(history)) or sums.get("NumberOfMessagesPublished", 0) > 0
    if not subscriptions.confirmed:
        return published
    return sums.get("NumberOfNotificationsDelivered", 0) > 0 or sums.get("NumberOfNotificationsFailed", 0) > 0


def _publish_result(history: list[str] | None, sums: Mapping[str, float], topic_arn: str) -> Result:
    check = "alarm-publish"
    failed = _failed(history)
    if failed:
        return Result(FAIL, check, f"CloudWatch could not notify the topic: {failed[0][:300]}",
                      "the topic's policy (sns:Publish) and its KMS key's policy (kms:GenerateDataKey*, kms:Decrypt) "
                      "must allow cloudwatch.amazonaws.com for this stack's alarms (aws:SourceArn "
                      "arn:...:alarm:<stackName>-*): make deploy again, and check nobody changed them by hand")
    if _succeeded(history) or sums.get("NumberOfMessagesPublished", 0) > 0:
        return Result(OK, check, f"CloudWatch published the drill's ALARM to {topic_arn}")
    return Result(WARN, check, "no sign yet that CloudWatch published to the topic (its metrics can lag minutes)",
                  "look at the alarm's history in the CloudWatch console for 'Failed to execute action'")


def _subscription_result(subscriptions: Subscriptions, topic_arn: str) -> Result:
    check = "alarm-subscription"
    if subscriptions.pending and not subscriptions.confirmed:
        return Result(
            FAIL,
            check,
            f"{', '.join(subscriptions.pending)}: PendingConfirmation, the subscription was never confirmed, "
            "so SNS sends it nothing",
            "open the 'AWS Notification - Subscription Confirmation' e-mail (spam folder too) and follow "
            "'Confirm subscription', or ask for a new one: aws sns subscribe --topic-arn "
            f"{topic_arn} --protocol email --notification-endpoint <address>",
        )
    if not subscriptions.confirmed:
        return Result(WARN, check, "nobody is subscribed to the alarm topic: alarms notify no one",
                      "make deploy CDK_OPTS=\"... -c alarmEmail=you@example.com\", then confirm the e-mail")
    pending = f" (still pending: {', '.join(subscriptions.pending)})" if subscriptions.pending else ""
    return Result(OK, check, f"confirmed: {', '.join(subscriptions.confirmed)}{pending}")


def _delivery_result(sums: Mapping[str, float], subscriptions: Subscriptions, alarm: str, waited: float) -> Result:
    check = "alarm-delivery"
    delivered = int(sums.get("NumberOfNotificationsDelivered", 0))
    failed = int(sums.get("NumberOfNotificationsFailed", 0))
    if failed:
        return Result(FAIL, check, f"SNS failed {failed} delivery(ies) of the drill (delivered {delivered})",
                      "check the subscription endpoints; an e-mail address that bounces is failed by SNS")
    if delivered:
        return Result(OK, check, f"notifications ARRIVE: SNS delivered {delivered} since the drill to "
                                 f"{', '.join(subscriptions.confirmed)}; look for the e-mail 'ALARM: \"{alarm}\"' "
                                 "(and its 'OK' a little later)")
    return Result(WARN, check, f"no delivery reported within {waited:g} s (SNS delivery metrics can lag several "
                               "minutes)",
                  f"check the inbox for 'ALARM: \"{alarm}\"'; if nothing arrives in 10 minutes, run make "
                  "verify-deploy again and read the topic's NumberOfNotificationsFailed")


# ---- the command ----------------------------------------------------------------------------------
def run(
    outputs: StackOutputs,
    *,
    session: Any,
    credentials: Any,
    caller: Mapping[str, str],
    assignment_id: str | None,
    drill: bool = True,
    drill_wait: float = 120,
    poll_seconds: float = 10,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 30,
) -> list[Result]:
    from mturk_decisions_cli.client import ApiClient
    from mturk_decisions_cli.config import region_of_url

    api_url = outputs.api_url
    results = [Result(OK, "outputs", f"stack {outputs.stack_name} from {outputs.source}: ApiUrl {api_url}, "
                                     f"AlarmTopicArn {outputs.topic_arn}")]
    if not api_url or not outputs.topic_arn:
        missing = [k for k, v in (("ApiUrl", api_url), ("AlarmTopicArn", outputs.topic_arn)) if not v]
        return [Result(FAIL, "outputs", f"stack {outputs.stack_name} ({outputs.source}) lacks {', '.join(missing)}",
                       "deploy this version of the stack (make deploy)")]
    region = region_of_url(api_url) or outputs.region or session.region_name
    if outputs.account and caller.get("Account") and outputs.account != caller["Account"]:
        return [*results, Result(FAIL, "credentials", f"the credentials are for account {caller['Account']} "
                                 f"({caller.get('Arn')}) but the stack is in {outputs.account}",
                                 "use credentials of the stack's account (AWS_PROFILE or --profile in CDK_OPTS)")]
    results.append(Result(OK, "credentials", f"{caller.get('Arn')} in account {caller.get('Account')}, region {region}"))

    api = ApiClient(api_url, credentials, region, timeout=timeout, retries=0)
    results.append(check_swagger(api, caller.get("Arn", "the caller")))
    secret_arn = outputs.values.get("MTurkSecretArn")
    results.append(check_secret(session.client("secretsmanager", region_name=region), secret_arn))
    if assignment_id:
        results.append(check_dry_run_reject(api, assignment_id, secret_arn))
    else:
        results.append(Result(WARN, "dry-run-reject", "skipped: the MTurk keys and MTurk itself were not exercised",
                              "make verify-deploy SANDBOX_ASSIGNMENT_ID=<an assignment of your requester at the "
                              "stack's MTurk endpoint> (a dry run: nothing is sent or written)"))
    if drill:
        results += alarm_drill(
            session.client("cloudwatch", region_name=region),
            session.client("sns", region_name=region),
            outputs.stack_name,
            outputs.topic_arn,
            wait_seconds=drill_wait,
            poll_seconds=poll_seconds,
            sleep=sleep,
        )
    else:
        results.append(Result(WARN, "alarm-drill", "skipped (--no-drill): whether alarm notifications arrive is "
                                                   "unknown", "make verify-deploy without NO_DRILL"))
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra.verify_deploy", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--outdir", default="cdk.out")
    parser.add_argument("--outputs", help="outputs file (default: OUTDIR/outputs.json)")
    parser.add_argument("--stack-name")
    parser.add_argument("--assignment-id", help="also SANDBOX_ASSIGNMENT_ID")
    parser.add_argument("--no-drill", action="store_true", help="skip the alarm drill (also NO_DRILL=1)")
    parser.add_argument("--drill-wait", type=float, default=120, help="seconds to wait for SNS deliveries")
    parser.add_argument("--poll-seconds", type=float, default=10)
    parser.add_argument("--cdk-json", default="cdk.json")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         session_factory: Callable[[str | None], Any] | None = None, out: Any = None,
         sleep: Callable[[float], None] = time.sleep) -> int:
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    parser = _parser()
    args, cdk_words = parser.parse_known_args(argv)

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    cdk = parse_cdk_opts(cdk_words)
    context = operator_context(Path(args.cdk_json), cdk)
    stack_name = args.stack_name or (str(context["stackName"]) if context.get("stackName") else None)
    assignment_id = args.assignment_id or environ.get("SANDBOX_ASSIGNMENT_ID") or None
    drill = not (args.no_drill or truthy(environ.get("NO_DRILL", "")))

    if session_factory is None:
        import boto3

        def session_factory(profile: str | None) -> Any:
            return boto3.Session(profile_name=profile)

    try:
        session = session_factory(cdk.profile)
        credentials = session.get_credentials()
        if credentials is None:
            raise LookupError("no AWS credentials found")
        caller = session.client("sts").get_caller_identity()
    except Exception as error:
        say(Result(FAIL, "credentials", f"no usable AWS credentials: {_error_text(error)}",
                   "configure them (aws configure / aws sso login / AWS_PROFILE) for the stack's account").line())
        return 1

    def describe(name: str) -> Mapping[str, Any]:
        return session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]

    outputs_file = Path(args.outputs) if args.outputs else Path(args.outdir) / "outputs.json"
    try:
        outputs = load_outputs(outputs_file, stack_name, describe)
    except Exception as error:
        say(Result(FAIL, "outputs", f"stack {stack_name or DEFAULT_STACK_NAME} not found ({outputs_file} or "
                   f"describe-stacks in {session.region_name}): {_error_text(error)}",
                   "make deploy first, or set AWS_REGION / --profile / -c stackName to the stack's").line())
        return 1

    results = run(outputs, session=session, credentials=credentials, caller=caller, assignment_id=assignment_id,
                  drill=drill, drill_wait=args.drill_wait, poll_seconds=args.poll_seconds, sleep=sleep)
    return _report(results, say)


def _report(results: Sequence[Result], say: Callable[[str], None]) -> int:
    """Print every result and the verdict; the exit code (1 if any FAIL)."""
    for result in results:
        say(result.line())
    failed = sum(r.level == FAIL for r in results)
    warned = sum(r.level == WARN for r in results)
    say(f"verify-deploy: {'FAILED' if failed else 'passed'} ({failed} FAIL, {warned} WARN)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
