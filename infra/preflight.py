"""Preflight of `make deploy`: stop before CloudFormation when a first deploy would fail or be unsafe.

    python -m infra.preflight [cdk.out] [--skip-preflight] [--allow-no-alarm-email] [CDK_OPTS...]

`make deploy` runs it after `make synth` (target `preflight`) with the same CDK_OPTS. It reads the
synthesized template(s) of `cdk.out` (not `infra/config.py`: the checks follow whatever the stack
synthesizes) and a few read-only facts of the account with the deployer's credentials, then prints
one line per check:

    OK    <check>  what was found
    WARN  <check>  what was found -> what to do
    STOP  <check>  what was found -> the option to set

and exits 1 when any check says STOP (nothing has been deployed). The checks:

- credentials           the AWS credentials work (`sts get-caller-identity`) and are for the stack's account;
- stack-state           the stack can be created or updated now (not *_IN_PROGRESS, UPDATE_ROLLBACK_FAILED...);
- lambda-concurrency    the template's `ReservedConcurrentExecutions` fit the account's Lambda quota
                        (Lambda keeps at least min(100, quota) unreserved: a new account whose quota is 10
                        can reserve nothing) -> `-c apiReservedConcurrency=none` etc.;
- bootstrap             the CDK bootstrap stack exists and is recent enough (SSM parameter
                        `/cdk-bootstrap/<qualifier>/version`) -> `make bootstrap`;
- alarm-email           the alarm topic has an e-mail subscription -> `-c alarmEmail=...` (STOP with
                        production MTurk, WARN otherwise; `--allow-no-alarm-email` / ALLOW_NO_ALARM_EMAIL=1);
- api-access            production MTurk behind an API without a resource policy that restricts principals
                        -> `-c allowedPrincipals=...` or `-c allowAnyPrincipalInAccount=true`;
- apigateway-logging    the account-wide API Gateway CloudWatch Logs role: the stack would replace an
                        existing one (WARN, `-c apiGatewayCloudWatchRole=false`), or the stage logs while the
                        account has no role and the stack creates none (STOP, `-c apiGatewayCloudWatchRole=true`);
- lambda-layers         any external layer (by ARN) the functions use exists in the region (the stack's own
                        layers are built from pins; this guards a layer added by ARN later);
- template-rules        no rule of the template can never hold (e.g. the marker of a Lambda layer that was
                        synthesized offline as a placeholder): CloudFormation would refuse the template.

Every check is a small function `check_x(stack, facts, options) -> list[Finding]` over the template
and an `AccountFacts` record, so it is tested without AWS; `read_account_facts` is the only code
that calls AWS. `--skip-preflight` (or SKIP_PREFLIGHT=1) skips everything, loudly.

`CDK_OPTS` is read only for what the template cannot show: `--profile` (the same credentials as
`cdk deploy`) and the operator's explicit opt-in `-c allowAnyPrincipalInAccount=true`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infra.check_lines import CheckLine

OK, WARN, STOP = "OK", "WARN", "STOP"
DEFAULT_QUALIFIER = "hnb659fds"
QUALIFIER_CONTEXT_KEY = "@aws-cdk/core:bootstrapQualifier"
# The CDK CLI falls back to this region when none is configured.
CDK_FALLBACK_REGION = "us-east-1"
PRODUCTION_MTURK_HOST = "mturk-requester.us-east-1.amazonaws.com"
# Lambda keeps this much of the account's concurrency unreserved (the whole quota when it is smaller).
LAMBDA_MIN_UNRESERVED = 100
_TRUE_WORDS = {"1", "true", "yes", "on"}

# Which context key sets the reservation of which function: matched on the handler module (always in
# the template) and, as a fallback, on the construct path / logical id.
RESERVATION_KEYS: tuple[tuple[str, str, str], ...] = (
    # (handler module, path/logical-id fragment, context key)
    ("mturk_decisions.handlers.api", "DecisionApi", "apiReservedConcurrency"),
    ("mturk_decisions.handlers.batch_worker", "Worker", "workerReservedConcurrency"),
    ("mturk_decisions.handlers.scheduler", "Sweeper", "sweeperReservedConcurrency"),
)


# ---- what the checks see --------------------------------------------------------------------------
class Finding(CheckLine):
    """A preflight check's line: OK, WARN or STOP."""


@dataclass(frozen=True)
class StackTemplate:
    """One synthesized stack: its name, template and what the cloud assembly says about it."""

    name: str
    template: Mapping[str, Any]
    # aws://ACCOUNT/REGION, "unknown-account"/"unknown-region" when environment-agnostic.
    environment: str = "aws://unknown-account/unknown-region"
    # From the manifest (requiresBootstrapStackVersion / bootstrapStackVersionSsmParameter), if any.
    manifest_bootstrap_version: int | None = None
    manifest_bootstrap_parameter: str | None = None

    @property
    def account(self) -> str | None:
        account = self.environment.removeprefix("aws://").split("/")[0]
        return None if not account or account.startswith("unknown") else account

    @property
    def region(self) -> str | None:
        parts = self.environment.removeprefix("aws://").split("/")
        region = parts[1] if len(parts) > 1 else ""
        return None if not region or region.startswith("unknown") else region

    def resources(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        return {k: v for k, v in (self.template.get("Resources") or {}).items() if v.get("Type") == resource_type}


@dataclass(frozen=True)
class AccountFacts:
    """What the preflight read from the account. `errors[name]` says why a fact could not be read
    (the check that needs it then warns instead of guessing): credentials, lambda, stack, bootstrap,
    apigateway, subscriptions, layers."""

    account_id: str | None = None
    caller_arn: str | None = None
    region: str | None = None
    region_source: str = ""
    partition: str = "aws"
    # lambda get_account_settings()["AccountLimit"]
    concurrency_limit: int | None = None
    unreserved_concurrency: int | None = None
    # Reservations the stack's functions hold already (an update gives them back first); 0 on a first deploy.
    stack_reserved_concurrency: int = 0
    stack_status: str | None = None  # None: the stack does not exist
    bootstrap_version: int | None = None  # None: the SSM parameter does not exist
    apigateway_role_arn: str | None = None  # apigateway get_account()["cloudwatchRoleArn"]
    # Confirmed subscriptions of the alarm topic of the deployed stack (an update), by protocol.
    alarm_topic_subscriptions: tuple[str, ...] = ()
    missing_layers: Mapping[str, str] = field(default_factory=dict)  # layer ARN -> error
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    """The operator's explicit choices that a template cannot show."""

    allow_any_principal_in_account: bool = False
    allow_no_alarm_email: bool = False


# ---- reading the template -------------------------------------------------------------------------
@dataclass(frozen=True)
class Reservation:
    logical_id: str
    amount: int | None  # None: not a literal number
    context_key: str | None
    description: str  # the template's value, as JSON

    def label(self) -> str:
        amount = self.amount if self.amount is not None else repr(self.description)
        if self.context_key:
            return f"{self.context_key}={amount} ({self.logical_id})"
        return f"{amount} on {self.logical_id} (no context key known to the preflight; see infra/config.py)"


def functions(stack: StackTemplate) -> dict[str, Mapping[str, Any]]:
    return {k: v.get("Properties") or {} for k, v in stack.resources("AWS::Lambda::Function").items()}


def context_key_for(logical_id: str, resource: Mapping[str, Any]) -> str | None:
    props = resource.get("Properties") or {}
    handler = str(props.get("Handler") or "")
    module = handler.rsplit(".", 1)[0]
    path = str((resource.get("Metadata") or {}).get("aws:cdk:path") or "")
    for handler_module, _fragment, key in RESERVATION_KEYS:
        if module == handler_module:
            return key
    for _handler_module, fragment, key in RESERVATION_KEYS:
        if fragment in path.split("/") or logical_id.startswith(fragment) or fragment in logical_id:
            return key
    return None


def reservations(stack: StackTemplate) -> list[Reservation]:
    found = []
    for logical_id, resource in stack.resources("AWS::Lambda::Function").items():
        props = resource.get("Properties") or {}
        if "ReservedConcurrentExecutions" not in props:
            continue
        raw = props["ReservedConcurrentExecutions"]
        amount = raw if isinstance(raw, int) else (int(raw) if isinstance(raw, str) and raw.isdigit() else None)
        found.append(Reservation(logical_id, amount, context_key_for(logical_id, resource), json.dumps(raw)))
    return found


def mturk_endpoints(stack: StackTemplate) -> set[str]:
    values = set()
    for props in functions(stack).values():
        value = ((props.get("Environment") or {}).get("Variables") or {}).get("MTURK_ENDPOINT")
        if value is not None:
            values.add(value if isinstance(value, str) else json.dumps(value))
    return values


def is_production_endpoint(value: str) -> bool:
    text = value.strip().lower()
    return text == "production" or re.match(rf"^https://{re.escape(PRODUCTION_MTURK_HOST)}(:443)?/?$", text) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def restricts_principals(policy: Any) -> bool:
    """True if the API resource policy denies execute-api:Invoke to principals it does not list.

    Only a Deny restricts the principals of the API's own account: for them an IAM policy alone is
    enough, whatever the resource policy allows.
    """
    if not isinstance(policy, Mapping):
        return False
    for statement in _as_list(policy.get("Statement") or []):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Deny":
            continue
        actions = [str(a) for a in _as_list(statement.get("Action") or [])]
        if any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions):
            return True
    return False


def email_subscriptions(stack: StackTemplate) -> list[str]:
    """Endpoints (as text) of the e-mail subscriptions the template creates."""
    found = []
    for resource in stack.resources("AWS::SNS::Subscription").values():
        props = resource.get("Properties") or {}
        if str(props.get("Protocol", "")).lower() in ("email", "email-json"):
            endpoint = props.get("Endpoint")
            found.append(endpoint if isinstance(endpoint, str) else "(computed)")
    for resource in stack.resources("AWS::SNS::Topic").values():
        for sub in (resource.get("Properties") or {}).get("Subscription") or []:
            if str(sub.get("Protocol", "")).lower() in ("email", "email-json"):
                found.append(str(sub.get("Endpoint")))
    return found


def stage_logging(stack: StackTemplate) -> list[str]:
    """What each API Gateway stage logs to CloudWatch Logs (which needs the account's CloudWatch role)."""
    found = []
    for logical_id, resource in stack.resources("AWS::ApiGateway::Stage").items():
        props = resource.get("Properties") or {}
        kinds = []
        for setting in props.get("MethodSettings") or []:
            level = str(setting.get("LoggingLevel", "OFF")).upper()
            if level in ("INFO", "ERROR"):
                kinds.append(f"execution logs ({level})")
            if setting.get("DataTraceEnabled") is True:
                kinds.append("data trace")
        if props.get("AccessLogSetting"):
            kinds.append("access logs")
        if kinds:
            found.append(f"stage {logical_id}: {', '.join(dict.fromkeys(kinds))}")
    return found


def bootstrap_requirement(stack: StackTemplate, context: Mapping[str, Any] | None = None) -> tuple[str, int | None]:
    """(SSM parameter name, minimum version) the stack needs from the CDK bootstrap stack."""
    parameter = stack.manifest_bootstrap_parameter
    declared = (stack.template.get("Parameters") or {}).get("BootstrapVersion") or {}
    if isinstance(declared.get("Default"), str):
        parameter = declared["Default"]
    if not parameter:
        qualifier = str((context or {}).get(QUALIFIER_CONTEXT_KEY) or DEFAULT_QUALIFIER)
        parameter = f"/cdk-bootstrap/{qualifier}/version"
    required = stack.manifest_bootstrap_version
    rule = (stack.template.get("Rules") or {}).get("CheckBootstrapVersion") or {}
    for assertion in rule.get("Assertions") or []:
        try:
            refused = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"][0]
            from_rule = max(int(v) for v in refused) + 1
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        required = max(required or 0, from_rule)
    return parameter, required


def resolve(value: Any, facts: AccountFacts) -> str | None:
    """A template value as text when it only uses pseudo parameters (Fn::Join/Ref), else None."""
    pseudo = {
        "AWS::Region": facts.region,
        "AWS::Partition": facts.partition,
        "AWS::AccountId": facts.account_id,
        "AWS::URLSuffix": "amazonaws.com.cn" if facts.partition == "aws-cn" else "amazonaws.com",
    }
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "Ref" in value:
        return pseudo.get(value["Ref"])
    if isinstance(value, Mapping) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        resolved = [resolve(part, facts) for part in parts]
        return None if any(part is None for part in resolved) else separator.join(resolved)
    return None


def external_layers(stack: StackTemplate, facts: AccountFacts) -> set[str]:
    """Layer ARNs the functions use that this stack does not create (e.g. the public Powertools layer)."""
    arns = set()
    for props in functions(stack).values():
        for layer in props.get("Layers") or []:
            arn = resolve(layer, facts)
            if arn and arn.startswith("arn:"):
                arns.add(arn)
    return arns


# ---- the checks -----------------------------------------------------------------------------------
def _unread(check: str, facts: AccountFacts, name: str, what: str, consequence: str) -> list[Finding] | None:
    error = facts.errors.get(name)
    if error is None:
        return None
    return [Finding(WARN, check, f"could not read {what}: {error}", f"not checked; {consequence}")]


def check_credentials(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    if "credentials" in facts.errors:
        return [
            Finding(
                STOP,
                "credentials",
                f"no usable AWS credentials: {facts.errors['credentials']}",
                "configure them (`aws configure`, `aws sso login`, AWS_PROFILE, or --profile NAME in CDK_OPTS) "
                "until `aws sts get-caller-identity` works",
            )
        ]
    if stack.account and facts.account_id and stack.account != facts.account_id:
        return [
            Finding(
                STOP,
                "credentials",
                f"the stack is synthesized for account {stack.account} but the credentials are for "
                f"{facts.account_id} ({facts.caller_arn})",
                "use credentials of the target account (or unset CDK_DEFAULT_ACCOUNT) and run make deploy again",
            )
        ]
    region_note = f" (region from {facts.region_source})" if facts.region_source else ""
    findings = [Finding(OK, "credentials", f"{facts.caller_arn} in account {facts.account_id}, region {facts.region}{region_note}")]
    if facts.region_source == "CDK default":
        findings.append(
            Finding(
                WARN,
                "credentials",
                f"no AWS region configured: cdk deploy falls back to {CDK_FALLBACK_REGION}",
                "set AWS_REGION (or the profile's region) if you meant another region",
            )
        )
    return findings


def lambda_min_unreserved(limit: int) -> int:
    return min(LAMBDA_MIN_UNRESERVED, limit)


def check_lambda_concurrency(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    check = "lambda-concurrency"
    found = reservations(stack)
    if not found:
        return [Finding(OK, check, "no function reserves concurrency (every reserved-concurrency option is `none`)")]
    unread = _unread(check, facts, "lambda", "the Lambda account settings", "CloudFormation fails creating a "
                     "function if its reservation leaves too little unreserved concurrency")
    if unread:
        return unread
    if facts.concurrency_limit is None:
        return [Finding(WARN, check, "the account's Lambda concurrency quota is unknown", "not checked")]
    unknown = [r for r in found if r.amount is None]
    total = sum(r.amount or 0 for r in found)
    limit = facts.concurrency_limit
    unreserved = facts.unreserved_concurrency if facts.unreserved_concurrency is not None else limit
    # On an update the stack's current reservations are given back before the new ones are taken.
    available = unreserved + facts.stack_reserved_concurrency
    minimum = lambda_min_unreserved(limit)
    left = available - total
    listing = ", ".join(r.label() for r in found)
    where = f" in {facts.region}" if facts.region else ""
    if left >= minimum and not unknown:
        return [
            Finding(
                OK,
                check,
                f"this stack reserves {total} ({listing}); quota {limit}{where}, {left} stay unreserved "
                f"(Lambda keeps at least {minimum})",
            )
        ]
    if unknown and left >= minimum:
        return [Finding(WARN, check, f"reservations that are not literal numbers: {listing}", "not checked")]
    keys = [r.context_key for r in found if r.context_key]
    unnamed = [r for r in found if not r.context_key]
    fits = available - minimum
    fix = ""
    if keys:
        fix = "make deploy CDK_OPTS=\"" + " ".join(f"-c {key}=none" for key in dict.fromkeys(keys)) + "\""
        fix += " (`none` = no reservation, always fits"
        fix += f"; here reservations may total at most {fits})" if fits > 0 else ": this account can reserve nothing)"
    if unnamed:
        fix += ("; " if fix else "") + "remove the reservation of " + ", ".join(r.logical_id for r in unnamed)
        fix += " (no context key known to the preflight: see infra/config.py)"
    fix += "; or ask for a higher quota: Service Quotas > AWS Lambda > Concurrent executions"
    others = limit - unreserved - facts.stack_reserved_concurrency
    other_note = f", {others} already reserved by other functions" if others > 0 else ""
    return [
        Finding(
            STOP,
            check,
            f"this stack reserves {total} concurrent executions ({listing}) but the account's Lambda quota"
            f"{where} is {limit}{other_note}: "
            + (f"only {left} would stay unreserved" if left >= 0 else f"that is more than the {available} available")
            + f" and Lambda keeps at least {minimum} unreserved, so CloudFormation would fail creating the functions",
            fix,
        )
    ]


def check_bootstrap(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    check = "bootstrap"
    parameter, required = bootstrap_requirement(stack)
    unread = _unread(check, facts, "bootstrap", f"the SSM parameter {parameter}",
                     "cdk deploy checks it itself through its deploy role")
    if unread:
        return unread
    where = f"account {facts.account_id}, region {facts.region}"
    if facts.bootstrap_version is None:
        return [
            Finding(
                STOP,
                check,
                f"CDK is not bootstrapped in {where} (no SSM parameter {parameter})",
                "run `make bootstrap` once per account and region (same CDK_OPTS and credentials)",
            )
        ]
    if required is not None and facts.bootstrap_version < required:
        return [
            Finding(
                STOP,
                check,
                f"the CDK bootstrap stack in {where} is version {facts.bootstrap_version}; this template "
                f"needs {required} or later ({parameter})",
                "run `make bootstrap` (upgrades the CDKToolkit stack in place)",
            )
        ]
    need = f" (needs {required})" if required is not None else ""
    return [Finding(OK, check, f"bootstrap version {facts.bootstrap_version}{need} in {where}")]


def check_alarm_email(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    """No e-mail subscription: STOP with production MTurk, WARN otherwise.

    With production MTurk the alarms are the only signal that a decision failed or that an automatic
    reversal (a promise to a worker, with a 30-day deadline) is about to expire unapplied: a topic that
    nobody reads makes them silent. A sandbox deployment is a trial, where an e-mail is optional.
    Subscriptions made outside the stack (chat, pager) count when the deployed topic has confirmed ones.
    """
    check = "alarm-email"
    emails = email_subscriptions(stack)
    if emails:
        return [
            Finding(
                OK,
                check,
                f"alarms are e-mailed to {', '.join(emails)} (confirm the subscription e-mail after the deploy; "
                "`make verify-deploy` tells whether it was)",
            )
        ]
    if facts.alarm_topic_subscriptions:
        return [
            Finding(
                OK,
                check,
                "no e-mail in the template, but the deployed alarm topic has confirmed subscriptions "
                f"({', '.join(facts.alarm_topic_subscriptions)})",
            )
        ]
    production = any(is_production_endpoint(v) for v in mturk_endpoints(stack))
    fix = "add -c alarmEmail=ops@example.com to CDK_OPTS"
    if production and not options.allow_no_alarm_email:
        return [
            Finding(
                STOP,
                check,
                "production MTurk and nobody receives the alarms (no e-mail subscription on the alarm topic): "
                "failed decisions and automatic reversals near their 30-day deadline would go unnoticed",
                fix + "; if the topic is read another way (chat, pager), subscribe it after the deploy and "
                "pass ALLOW_NO_ALARM_EMAIL=1 this time",
            )
        ]
    why = "accepted with ALLOW_NO_ALARM_EMAIL" if production else "fine for a sandbox trial"
    return [Finding(WARN, check, f"no alarm e-mail: alarms only change state on the dashboard ({why})", fix)]


def check_api_access(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    check = "api-access"
    endpoints = mturk_endpoints(stack)
    production = sorted(v for v in endpoints if is_production_endpoint(v))
    apis = stack.resources("AWS::ApiGateway::RestApi")
    restricted = {k: restricts_principals((r.get("Properties") or {}).get("Policy")) for k, r in apis.items()}
    account = facts.account_id or "this account"
    if not apis:
        return [Finding(OK, check, "no REST API in the template")]
    if all(restricted.values()):
        return [Finding(OK, check, "the API's resource policy denies every principal not in allowedPrincipals")]
    if not production:
        shown = ", ".join(sorted(endpoints)) or "none"
        return [
            Finding(
                OK,
                check,
                f"MTurk endpoint {shown}; any IAM principal of {account} allowed execute-api:Invoke may call "
                "the API (set allowedPrincipals before production)",
            )
        ]
    if options.allow_any_principal_in_account:
        return [
            Finding(
                WARN,
                check,
                f"production MTurk and no resource policy: any IAM principal of {account} allowed "
                "execute-api:Invoke may reject workers' assignments (allowAnyPrincipalInAccount=true)",
                "prefer -c allowedPrincipals=<the role ARNs of the people and scripts that decide>",
            )
        ]
    return [
        Finding(
            STOP,
            check,
            f"the functions call production MTurk (MTURK_ENDPOINT={', '.join(production)}) and the API has no "
            f"resource policy restricting principals: any IAM principal of {account} allowed execute-api:Invoke "
            "(administrators, any role with a broad policy) could reject real workers' assignments",
            "add -c allowedPrincipals=arn:aws:iam::<account>:role/<who decides>[,...] (IAM role/user ARNs or "
            "account ids) to CDK_OPTS, or -c allowAnyPrincipalInAccount=true to accept that deliberately",
        )
    ]


def _role_name(arn: str) -> str:
    """The role's name (its path dropped) from an IAM role ARN."""
    return arn.rsplit("/", 1)[-1]


def check_apigateway_logging(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    check = "apigateway-logging"
    creates_role = bool(stack.resources("AWS::ApiGateway::Account"))
    logging = stage_logging(stack)
    if not creates_role and not logging:
        return [Finding(OK, check, "the stack neither logs to CloudWatch Logs from API Gateway nor sets its account role")]
    unread = _unread(check, facts, "apigateway", "the API Gateway account settings",
                     "a stage that logs without the account's CloudWatch role fails to deploy")
    if unread:
        return unread
    existing = facts.apigateway_role_arn
    if creates_role:
        if existing and not _role_name(existing).startswith(f"{stack.name}-"):
            return [
                Finding(
                    WARN,
                    check,
                    f"the stack sets the account-wide API Gateway CloudWatch Logs role of {facts.region}, replacing "
                    f"{existing} for every REST API of the region (and keeps its own on destroy)",
                    "add -c apiGatewayCloudWatchRole=false to CDK_OPTS to keep the existing role (it is used by "
                    "this API's logs too)",
                )
            ]
        return [Finding(OK, check, "the stack sets the account's API Gateway CloudWatch Logs role (none was set)"
                        if not existing else f"the account's API Gateway role is this stack's own ({existing})")]
    if existing:
        return [Finding(OK, check, f"{'; '.join(logging)}; the account's API Gateway role is {existing}")]
    return [
        Finding(
            STOP,
            check,
            f"the API logs to CloudWatch Logs ({'; '.join(logging)}) but {facts.region} has no API Gateway "
            "CloudWatch Logs role in its account settings and the stack creates none: CloudFormation would fail "
            "with 'CloudWatch Logs role ARN must be set in account settings to enable logging'",
            "add -c apiGatewayCloudWatchRole=true to CDK_OPTS (the stack creates the account-wide role), or set "
            "an existing role once: aws apigateway update-account --patch-operations "
            "op=replace,path=/cloudwatchRoleArn,value=<role ARN>",
        )
    ]


def check_layers(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    check = "lambda-layers"
    arns = external_layers(stack, facts)
    if not arns:
        return [Finding(OK, check, "no external layers")]
    unread = _unread(check, facts, "layers", "the layers", "a missing layer fails the functions' creation")
    if unread:
        return unread
    missing = {arn: error for arn, error in facts.missing_layers.items() if arn in arns}
    if missing:
        listing = "; ".join(f"{arn} ({error})" for arn, error in sorted(missing.items()))
        return [
            Finding(
                STOP,
                check,
                f"layer(s) not available in {facts.region}: {listing}",
                "use a layer version published in this region, or build the layer into the stack "
                "(infra/constructs/layers.py)",
            )
        ]
    return [Finding(OK, check, f"{len(arns)} external layer(s) found in {facts.region}")]


def check_stack_state(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    """The stack's current CloudFormation state: whether `cdk deploy` can create or update it now."""
    check = "stack-state"
    unread = _unread(check, facts, "stack", f"the stack {stack.name}", "cdk deploy reports a blocked stack itself")
    if unread:
        return unread
    status = facts.stack_status
    if status is None:
        return [Finding(OK, check, f"first deploy: stack {stack.name} does not exist yet in {facts.region}")]
    if status == "ROLLBACK_COMPLETE":
        return [
            Finding(
                WARN,
                check,
                f"stack {stack.name} is ROLLBACK_COMPLETE (an earlier first deploy failed): cdk deploy deletes it and "
                "creates it again; what that attempt retained (audit and schedule tables, their KMS key) stays",
                "adopt the retained tables with existingAuditTableName / existingScheduleTableName / existingDataKeyArn "
                "(see infra/config.py), or delete them by hand",
            )
        ]
    if status.endswith("_IN_PROGRESS"):
        return [Finding(STOP, check, f"stack {stack.name} is {status}", "wait until the running operation ends")]
    if status == "UPDATE_ROLLBACK_FAILED":
        return [Finding(STOP, check, f"stack {stack.name} is {status}: CloudFormation refuses updates",
                        f"aws cloudformation continue-update-rollback --stack-name {stack.name}, then make deploy")]
    if status in ("DELETE_FAILED", "ROLLBACK_FAILED"):
        return [Finding(STOP, check, f"stack {stack.name} is {status}",
                        "read its events, remove what blocks the deletion, then aws cloudformation delete-stack "
                        f"--stack-name {stack.name}")]
    return [Finding(OK, check, f"update of stack {stack.name} ({status})")]


def _never_holds(condition: Any) -> bool:
    """An assertion that no parameter value can satisfy: `Fn::Not [Fn::Equals [x, x]]`, or `false`."""
    if condition is False or condition == "false":
        return True
    if isinstance(condition, Mapping) and isinstance(condition.get("Fn::Not"), list) and condition["Fn::Not"]:
        inner = condition["Fn::Not"][0]
        if isinstance(inner, Mapping) and isinstance(inner.get("Fn::Equals"), list) and len(inner["Fn::Equals"]) == 2:
            left, right = inner["Fn::Equals"]
            return left == right
    return False


def check_template_rules(stack: StackTemplate, facts: AccountFacts, options: Options) -> list[Finding]:
    """Rules of the template that make CloudFormation refuse it whatever the parameters (e.g. the stack's
    marker for a Lambda layer that was synthesized offline as a placeholder)."""
    check = "template-rules"
    refused = []
    for name, rule in (stack.template.get("Rules") or {}).items():
        for assertion in rule.get("Assertions") or []:
            if _never_holds(assertion.get("Assert")):
                refused.append((name, str(assertion.get("AssertDescription") or "no description")))
    if refused:
        return [
            Finding(
                STOP,
                check,
                "CloudFormation would refuse this template: "
                + "; ".join(f"rule {name}: {description}" for name, description in refused),
                "do what the rule says, then make deploy again (it synthesizes again)",
            )
        ]
    return [Finding(OK, check, "no template rule refuses the deployment")]


Check = Callable[[StackTemplate, AccountFacts, Options], list[Finding]]
CHECKS: tuple[Check, ...] = (
    check_credentials,
    check_stack_state,
    check_template_rules,
    check_lambda_concurrency,
    check_bootstrap,
    check_alarm_email,
    check_api_access,
    check_apigateway_logging,
    check_layers,
)


def run_checks(stack: StackTemplate, facts: AccountFacts, options: Options = Options()) -> list[Finding]:
    findings = check_credentials(stack, facts, options)
    if any(f.level == STOP for f in findings):
        return findings  # nothing else could be read
    for check in CHECKS[1:]:
        findings += check(stack, facts, options)
    return findings


# ---- reading cdk.out ------------------------------------------------------------------------------
def load_stacks(outdir: Path) -> list[StackTemplate]:
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks = []
    for artifact_id, artifact in (manifest.get("artifacts") or {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties") or {}
        template = json.loads((outdir / props["templateFile"]).read_text())
        stacks.append(
            StackTemplate(
                name=props.get("stackName") or artifact.get("displayName") or artifact_id,
                template=template,
                environment=artifact.get("environment") or "aws://unknown-account/unknown-region",
                manifest_bootstrap_version=props.get("requiresBootstrapStackVersion"),
                manifest_bootstrap_parameter=props.get("bootstrapStackVersionSsmParameter"),
            )
        )
    if not stacks:
        raise SystemExit(f"preflight: no stack in {outdir}/manifest.json (run make synth)")
    return stacks


# ---- CDK_OPTS and cdk.json ------------------------------------------------------------------------
@dataclass(frozen=True)
class CdkOptions:
    context: Mapping[str, str]
    profile: str | None


def parse_cdk_opts(argv: Sequence[str]) -> CdkOptions:
    """`-c key=value` / `--context key=value` pairs and `--profile` of a CDK_OPTS word list; the rest is ignored."""
    context: dict[str, str] = {}
    profile = None
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        value = None
        if word in ("-c", "--context", "--profile") and i + 1 < len(words):
            value = words[i + 1]
            i += 1
        elif word.startswith(("--context=", "--profile=")):
            word, value = word.split("=", 1)
        elif word.startswith("-c") and len(word) > 2:
            word, value = "-c", word[2:]
        if value is not None:
            if word == "--profile":
                profile = value
            elif "=" in value:
                key, _, text = value.partition("=")
                context[key] = text
        i += 1
    return CdkOptions(context, profile)


def operator_context(cdk_json: Path, cdk_opts: CdkOptions) -> dict[str, Any]:
    """cdk.json's context overlaid with CDK_OPTS `-c` pairs, as the CDK CLI resolves them."""
    context: dict[str, Any] = {}
    if cdk_json.exists():
        context.update(json.loads(cdk_json.read_text()).get("context") or {})
    context.update(cdk_opts.context)
    return context


def truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE_WORDS


# ---- the AWS adapter ------------------------------------------------------------------------------
def _error_text(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        err = response.get("Error") or {}
        return f"{err.get('Code', type(error).__name__)}: {err.get('Message', '')}".strip().rstrip(":")
    return f"{type(error).__name__}: {error}"


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(((response or {}).get("Error") or {}).get("Code", "")) if isinstance(response, Mapping) else ""


def read_account_facts(session: Any, stack: StackTemplate, parameter: str) -> AccountFacts:
    """Every AWS read of the preflight (read-only calls, with the deployer's credentials)."""
    errors: dict[str, str] = {}
    region, source = stack.region, "the synthesized stack"
    if not region:
        region, source = session.region_name, "AWS configuration"
    if not region:
        region, source = CDK_FALLBACK_REGION, "CDK default"
    values: dict[str, Any] = {"region": region, "region_source": source}

    def client(name: str) -> Any:
        return session.client(name, region_name=region)

    if not _read_identity(client, values, errors):
        return AccountFacts(**values, errors=errors)
    _read_lambda_limits(client, values, errors)
    outputs = _read_stack(client, stack.name, values, errors)
    _read_bootstrap(client, parameter, values, errors)
    _read_apigateway_role(client, values, errors)
    _read_alarm_subscriptions(client, outputs.get("AlarmTopicArn"), values, errors)
    missing = _read_missing_layers(client, stack, AccountFacts(**values), errors)
    return AccountFacts(**values, missing_layers=missing, errors=errors)


def _read_identity(client: Callable[[str], Any], values: dict[str, Any], errors: dict[str, str]) -> bool:
    """Who deploys, where; False (and the reason in `errors`) when there are no usable credentials."""
    try:
        identity = client("sts").get_caller_identity()
        values["account_id"], values["caller_arn"] = identity["Account"], identity["Arn"]
        values["partition"] = identity["Arn"].split(":")[1]
    except Exception as error:  # NoCredentialsError, expired tokens, no network...
        errors["credentials"] = _error_text(error)
        return False
    return True


def _read_lambda_limits(client: Callable[[str], Any], values: dict[str, Any], errors: dict[str, str]) -> None:
    try:
        limit = client("lambda").get_account_settings()["AccountLimit"]
        values["concurrency_limit"] = limit["ConcurrentExecutions"]
        values["unreserved_concurrency"] = limit.get("UnreservedConcurrentExecutions")
    except Exception as error:
        errors["lambda"] = _error_text(error)


def _read_stack(client: Callable[[str], Any], name: str, values: dict[str, Any],
                errors: dict[str, str]) -> dict[str, str]:
    """The deployed stack's status and the concurrency its functions reserve; its outputs (none if not deployed)."""
    try:
        cfn = client("cloudformation")
        described = cfn.describe_stacks(StackName=name)["Stacks"][0]
        values["stack_status"] = described["StackStatus"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}
        values["stack_reserved_concurrency"] = _reserved_concurrency(client("lambda"), cfn, name)
        return outputs
    except Exception as error:
        if "does not exist" not in str(error):
            errors["stack"] = _error_text(error)
        return {}


def _reserved_concurrency(lambda_client: Any, cfn: Any, name: str) -> int:
    reserved = 0
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
        for resource in page["StackResourceSummaries"]:
            if resource["ResourceType"] == "AWS::Lambda::Function" and resource.get("PhysicalResourceId"):
                try:
                    concurrency = lambda_client.get_function_concurrency(FunctionName=resource["PhysicalResourceId"])
                    reserved += concurrency.get("ReservedConcurrentExecutions") or 0
                except Exception:  # a function being deleted, no permission: count 0
                    pass
    return reserved


def _read_bootstrap(client: Callable[[str], Any], parameter: str, values: dict[str, Any],
                    errors: dict[str, str]) -> None:
    try:
        values["bootstrap_version"] = int(client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"])
    except Exception as error:
        if _code(error) != "ParameterNotFound":
            errors["bootstrap"] = _error_text(error)


def _read_apigateway_role(client: Callable[[str], Any], values: dict[str, Any], errors: dict[str, str]) -> None:
    try:
        values["apigateway_role_arn"] = client("apigateway").get_account().get("cloudwatchRoleArn") or None
    except Exception as error:
        errors["apigateway"] = _error_text(error)


def _read_alarm_subscriptions(client: Callable[[str], Any], topic: str | None, values: dict[str, Any],
                              errors: dict[str, str]) -> None:
    """The confirmed subscriptions' protocols of the deployed alarm topic (someone must get the alarms)."""
    if not topic:
        return
    try:
        protocols = []
        for page in client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            for sub in page["Subscriptions"]:
                if str(sub.get("SubscriptionArn", "")).startswith("arn:"):
                    protocols.append(f"{sub['Protocol']}")
        values["alarm_topic_subscriptions"] = tuple(protocols)
    except Exception as error:
        errors["subscriptions"] = _error_text(error)


def _read_missing_layers(client: Callable[[str], Any], stack: StackTemplate, partial: AccountFacts,
                         errors: dict[str, str]) -> dict[str, str]:
    """The external layers the stack uses that this account cannot read (ARN -> error code)."""
    missing: dict[str, str] = {}
    try:
        lambda_client = client("lambda")
        for arn in sorted(external_layers(stack, partial)):
            try:
                lambda_client.get_layer_version_by_arn(Arn=arn)
            except Exception as error:
                if _code(error) in ("ResourceNotFoundException", "AccessDeniedException"):
                    missing[arn] = _code(error)
                else:
                    raise
    except Exception as error:
        errors["layers"] = _error_text(error)
    return missing


# ---- the command ----------------------------------------------------------------------------------
BANNER = "!" * 100


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
         session_factory: Callable[[str | None], Any] | None = None, out: Any = None) -> int:
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("outdir", nargs="?", default="cdk.out")
    parser.add_argument("--skip-preflight", action="store_true", help="skip every check (also SKIP_PREFLIGHT=1)")
    parser.add_argument("--allow-no-alarm-email", action="store_true",
                        help="production without an alarm e-mail (also ALLOW_NO_ALARM_EMAIL=1)")
    parser.add_argument("--cdk-json", default="cdk.json")
    args, cdk_words = parser.parse_known_args(argv)

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    if args.skip_preflight or truthy(environ.get("SKIP_PREFLIGHT", "")):
        say(BANNER)
        say("!!! PREFLIGHT SKIPPED (--skip-preflight / SKIP_PREFLIGHT): nothing was checked. CloudFormation will")
        say("!!! find out the hard way (and roll back) if the Lambda quota, the bootstrap stack, the API Gateway")
        say("!!! logging role or the production settings are wrong. See docs/deploy.md, 'Preflight'.")
        say(BANNER)
        return 0

    cdk = parse_cdk_opts(cdk_words)
    context = operator_context(Path(args.cdk_json), cdk)
    options = Options(
        allow_any_principal_in_account=truthy(context.get("allowAnyPrincipalInAccount", False)),
        allow_no_alarm_email=args.allow_no_alarm_email or truthy(environ.get("ALLOW_NO_ALARM_EMAIL", "")),
    )
    if session_factory is None:
        import boto3

        def session_factory(profile: str | None) -> Any:
            return boto3.Session(profile_name=profile)

    try:
        session = session_factory(cdk.profile)
    except Exception as error:  # ProfileNotFound...
        say(Finding(STOP, "credentials", f"could not load the AWS configuration: {_error_text(error)}",
                    "check --profile in CDK_OPTS / AWS_PROFILE").line())
        return 1

    stops = warnings = 0
    for stack in load_stacks(Path(args.outdir)):
        # The qualifier of cdk.json / CDK_OPTS, when neither the template nor the manifest names the parameter.
        parameter, _required = bootstrap_requirement(stack, context)
        stack = replace(stack, manifest_bootstrap_parameter=parameter)
        facts = read_account_facts(session, stack, parameter)
        say(f"preflight of stack {stack.name} ({args.outdir}):")
        findings = run_checks(stack, facts, options)
        for finding in findings:
            say(finding.line())
        stops += sum(f.level == STOP for f in findings)
        warnings += sum(f.level == WARN for f in findings)
    if stops:
        say(f"preflight: {stops} STOP, {warnings} WARN: nothing was deployed. Fix the STOP lines (docs/deploy.md, "
            "'Preflight'), or bypass with SKIP_PREFLIGHT=1 if you are sure.")
        return 1
    say(f"preflight: passed ({warnings} WARN)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
