"""Every deploy-time parameter of the stack, read from CDK context in one place.

Values come from `cdk.json` ("context"), from `-c key=value` on the command line
(always strings there), or from `App(context=...)` in tests. Each one has a default
and is validated here, so a typo fails `cdk synth` with a message naming the key
instead of producing a broken deployment.

| context key                | default        | meaning |
|----------------------------|----------------|----------------------------------------------------------------|
| stackName                  | MTurkDecisions | CloudFormation stack name (one per environment/account+region) |
| mturkEndpoint              | sandbox        | `sandbox`, `production` or an https URL (passed to the Lambda) |
| alarmEmail                 | (none)         | e-mail subscribed to the alarm topic (confirm the subscription) |
| allowedPrincipals          | (none)         | IAM principal ARNs / account ids allowed by the API resource policy |
| allowAnyPrincipalInAccount | false          | with mturkEndpoint=production, deploy without allowedPrincipals anyway |
| eventPublishers            | (none)         | principals allowed to put Reversal Requested events (unset: allowedPrincipals; empty: the account's IAM decides) |
| eventSources               | ["mturk-decisions.requester"] | the `source` values the Reversal Requested rule accepts |
| mturkRequesterAccountId    | (none)         | AWS account linked to the MTurk requester (SourceAccount of its notifications; unset: this account) |
| existingAuditTableName     | (none)         | use a retained audit table of an earlier deployment (with existingDataKeyArn) |
| existingScheduleTableName  | (none)         | use a retained schedule table of an earlier deployment (with existingDataKeyArn) |
| existingDataKeyArn         | (none)         | the retained KMS key that encrypts those tables |
| apiThrottleRateLimit       | 10             | stage-wide steady-state requests per second |
| apiThrottleBurstLimit      | 20             | stage-wide burst |
| apiReservedConcurrency     | (none)         | reserved concurrency of the API Lambda (unreserved by default: a new account's quota of 10 allows no reservation) |
| stageName                  | v1             | API Gateway stage name |
| logRetentionDays           | 90             | retention of the Lambda and API access log groups |
| apiGatewayCloudWatchRole   | false          | create the account-wide API Gateway CloudWatch Logs role (replaces any) |
| workerReservedConcurrency  | (none)         | reserved concurrency of the batch worker, at least 2 (unreserved: the queue runs 2 at most) |
| mturkInitialRate           | 5              | batch worker: MTurk calls per second it starts pacing at |
| mturkMaxRate               | 50             | batch worker: MTurk calls per second it never exceeds |
| workQueueMaxAgeMinutes     | 30             | alarm when the oldest queued batch chunk is older than this |
| sweeperReservedConcurrency | (none)         | reversal sweeper's reserved concurrency (sweeps claim items: overlaps are safe) |
| reconcileAfterSeconds      | 900            | reconciler: settles PENDING records older than this |
| websiteRejectionGrace      | (none)         | ISO 8601 duration (e.g. PT72H): website rejections become provisional |
| eventArchiveRetentionDays  | 30             | days the event bus archive keeps events for replay |
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from aws_cdk import aws_logs as logs

DEFAULTS: Mapping[str, Any] = {
    "stackName": "MTurkDecisions",
    "mturkEndpoint": "sandbox",
    "alarmEmail": None,
    "allowedPrincipals": [],
    "allowAnyPrincipalInAccount": False,
    "eventPublishers": None,
    "eventSources": ["mturk-decisions.requester"],
    "mturkRequesterAccountId": None,
    "existingAuditTableName": None,
    "existingScheduleTableName": None,
    "existingDataKeyArn": None,
    "apiThrottleRateLimit": 10,
    "apiThrottleBurstLimit": 20,
    # No reservation by default: an account whose quota is 10 cannot reserve any (10 must stay unreserved).
    "apiReservedConcurrency": None,
    "stageName": "v1",
    "logRetentionDays": 90,
    "apiGatewayCloudWatchRole": False,
    "workerReservedConcurrency": None,
    "mturkInitialRate": 5,
    "mturkMaxRate": 50,
    "workQueueMaxAgeMinutes": 30,
    "sweeperReservedConcurrency": None,
    "reconcileAfterSeconds": 900,
    "websiteRejectionGrace": "",
    "eventArchiveRetentionDays": 30,
}

# The longest timeout of any function that writes PENDING audit records (the batch worker's 15
# minutes, Lambda's maximum): a record younger than this may still be finalized by its writer, so
# the reconciler must never settle it.
LONGEST_FUNCTION_TIMEOUT_SECONDS = 900
# MTurk lets a rejection be reversed for 30 days; a grace period cannot outlast that window.
REVERSAL_WINDOW_SECONDS = 30 * 24 * 3600

_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# IAM users and roles (paths allowed) and account roots; no wildcards: the resource
# policy names exact principals.
_PRINCIPAL_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:iam::\d{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)$"
)
_EVENT_SOURCE = re.compile(r"^[A-Za-z0-9._/-]{1,256}$")
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/.*)?$")
_NONE_WORDS = {"", "none", "null", "off", "false"}
_N = TypeVar("_N", int, float)
# Exactly the grammar the Lambda parses (`domain.schedule.parse_duration`): days, hours, minutes,
# seconds. Weeks, months and years are refused here rather than by every cold start of the consumer.
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class ConfigError(ValueError):
    """A context parameter has an invalid value."""


@dataclass(frozen=True)
class ServiceConfig:
    stack_name: str
    mturk_endpoint: str
    alarm_email: str | None
    allowed_principals: tuple[str, ...]
    api_throttle_rate_limit: float
    api_throttle_burst_limit: int
    api_reserved_concurrency: int | None
    stage_name: str
    log_retention_days: int
    api_gateway_cloudwatch_role: bool
    worker_reserved_concurrency: int | None
    mturk_initial_rate: float
    mturk_max_rate: float
    work_queue_max_age_minutes: int
    sweeper_reserved_concurrency: int | None
    reconcile_after_seconds: int
    website_rejection_grace: str
    event_archive_retention_days: int
    event_publishers: tuple[str, ...] = ()
    event_sources: tuple[str, ...] = ("mturk-decisions.requester",)
    mturk_requester_account_id: str | None = None
    existing_audit_table_name: str | None = None
    existing_schedule_table_name: str | None = None
    existing_data_key_arn: str | None = None

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _retention(self.log_retention_days)

    @property
    def allowed_account_ids(self) -> tuple[str, ...]:
        return tuple(p for p in self.allowed_principals if _ACCOUNT_ID.match(p))

    @property
    def allowed_principal_arns(self) -> tuple[str, ...]:
        return tuple(p for p in self.allowed_principals if not _ACCOUNT_ID.match(p))

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> ServiceConfig:
        """Build from a context getter such as `app.node.try_get_context`."""

        def value(key: str) -> Any:
            raw = get(key)
            return DEFAULTS[key] if raw is None else raw

        initial_rate, max_rate = _rates(value)
        if get("powertoolsLayerVersion") is not None:
            raise ConfigError("context 'powertoolsLayerVersion' is gone: Powertools is built into the stack's own "
                              "layer from the pin in requirements.txt; remove the setting")
        allowed = _principals(value("allowedPrincipals"))
        endpoint = _endpoint(value("mturkEndpoint"))
        _check_production_access(endpoint, allowed, _bool(value("allowAnyPrincipalInAccount"),
                                                           "allowAnyPrincipalInAccount"))
        publishers = get("eventPublishers")
        return cls(
            stack_name=_match(value("stackName"), _STACK_NAME, "stackName"),
            mturk_endpoint=endpoint,
            alarm_email=_email(value("alarmEmail")),
            allowed_principals=allowed,
            event_publishers=allowed if publishers is None else _principals(publishers, "eventPublishers"),
            event_sources=_sources(value("eventSources")),
            mturk_requester_account_id=_optional_account(value("mturkRequesterAccountId")),
            **_existing_tables(value),
            **_api_settings(value),
            **_function_settings(value),
            mturk_initial_rate=initial_rate,
            mturk_max_rate=max_rate,
        )


def _rates(value: Callable[[str], Any]) -> tuple[float, float]:
    """(initial, maximum) MTurk call rate of the batch worker; 0.5 call/s is the floor its pacer never goes below."""
    initial_rate = _float(value("mturkInitialRate"), "mturkInitialRate", 0.5, 1_000)
    max_rate = _float(value("mturkMaxRate"), "mturkMaxRate", 0.5, 1_000)
    if initial_rate > max_rate:
        raise ConfigError(
            f"context 'mturkInitialRate'={initial_rate:g} is above 'mturkMaxRate'={max_rate:g}: "
            "the worker starts at the initial rate and never exceeds the maximum"
        )
    return initial_rate, max_rate


def _api_settings(value: Callable[[str], Any]) -> dict[str, Any]:
    return {
        "api_throttle_rate_limit": _float(value("apiThrottleRateLimit"), "apiThrottleRateLimit", 0.1, 10_000),
        "api_throttle_burst_limit": _int(value("apiThrottleBurstLimit"), "apiThrottleBurstLimit", 1, 5_000),
        "api_reserved_concurrency": _optional_int(value("apiReservedConcurrency"), "apiReservedConcurrency", 1, 1_000),
        "stage_name": _match(str(value("stageName")), _STAGE_NAME, "stageName"),
        "log_retention_days": _retention_days(value("logRetentionDays")),
        "api_gateway_cloudwatch_role": _bool(value("apiGatewayCloudWatchRole"), "apiGatewayCloudWatchRole"),
    }


def _function_settings(value: Callable[[str], Any]) -> dict[str, Any]:
    return {
        # SQS event sources run at least 2 workers at once: a reservation of 1 would throttle receives.
        "worker_reserved_concurrency": _optional_int(
            value("workerReservedConcurrency"), "workerReservedConcurrency", 2, 1_000
        ),
        # The work queue keeps a message 4 days: an age alarm beyond that could never fire.
        "work_queue_max_age_minutes": _int(
            value("workQueueMaxAgeMinutes"), "workQueueMaxAgeMinutes", 1, 4 * 24 * 60 - 1
        ),
        "sweeper_reserved_concurrency": _optional_int(
            value("sweeperReservedConcurrency"), "sweeperReservedConcurrency", 1, 1_000
        ),
        # Never below the longest function timeout: the reconciler would settle decisions still
        # in flight. At most 7 days: a PENDING record left longer than that is an incident already.
        "reconcile_after_seconds": _int(
            value("reconcileAfterSeconds"), "reconcileAfterSeconds", LONGEST_FUNCTION_TIMEOUT_SECONDS, 7 * 24 * 3600
        ),
        "website_rejection_grace": _grace(value("websiteRejectionGrace")),
        "event_archive_retention_days": _int(
            value("eventArchiveRetentionDays"), "eventArchiveRetentionDays", 1, 3_650
        ),
    }


def _match(raw: Any, pattern: re.Pattern[str], key: str) -> str:
    text = str(raw).strip()
    if not pattern.match(text):
        raise ConfigError(f"context '{key}'={raw!r} is invalid (expected {pattern.pattern})")
    return text


def _endpoint(raw: Any) -> str:
    text = str(raw).strip()
    if text in ("sandbox", "production") or _URL.match(text):
        return text
    raise ConfigError(
        f"context 'mturkEndpoint'={raw!r} is invalid: use 'sandbox', 'production' or an https:// URL"
    )


def _email(raw: Any) -> str | None:
    if raw is None or str(raw).strip().lower() in _NONE_WORDS:
        return None
    text = str(raw).strip()
    if not _EMAIL.match(text):
        raise ConfigError(f"context 'alarmEmail'={raw!r} is not an e-mail address")
    return text


def _grace(raw: Any) -> str:
    """'' (website rejections are audited only) or a positive ISO 8601 duration within 30 days."""
    if raw is None or str(raw).strip().lower() in _NONE_WORDS:
        return ""
    text = str(raw).strip().upper()
    match = _ISO_DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ConfigError(
            f"context 'websiteRejectionGrace'={raw!r} is not an ISO 8601 duration of days/hours/minutes/"
            "seconds such as PT72H or P3D (leave it empty to only audit website rejections)"
        )
    parts = {name: int(number or 0) for name, number in match.groupdict().items()}
    seconds = parts["days"] * 86_400 + parts["hours"] * 3_600 + parts["minutes"] * 60 + parts["seconds"]
    if not 0 < seconds <= REVERSAL_WINDOW_SECONDS:
        raise ConfigError(
            f"context 'websiteRejectionGrace'={raw!r} must be longer than zero and at most P30D, "
            "MTurk's reversal window"
        )
    return text


def _list(raw: Any, key: str) -> list[Any]:
    """A JSON list (cdk.json), or a comma/space separated string (`-c key=a,b`)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"context '{key}' is not valid JSON: {exc}") from exc
        else:
            raw = [p for p in re.split(r"[,\s]+", text) if p]
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(f"context '{key}' must be a list")
    return list(raw)


def _principals(raw: Any, key: str = "allowedPrincipals") -> tuple[str, ...]:
    principals: list[str] = []
    for item in _list(raw, key):
        text = str(item).strip()
        if not (_ACCOUNT_ID.match(text) or _PRINCIPAL_ARN.match(text)):
            raise ConfigError(
                f"context '{key}' entry {item!r} is neither a 12-digit account id nor an "
                "IAM user/role/root ARN (wildcards are not accepted)"
            )
        if text not in principals:
            principals.append(text)
    return tuple(principals)


def _sources(raw: Any) -> tuple[str, ...]:
    """EventBridge `source` values: at most 256 characters, never AWS's own `aws.` prefix."""
    sources = tuple(dict.fromkeys(str(item).strip() for item in _list(raw, "eventSources")))
    bad = [s for s in sources if not _EVENT_SOURCE.match(s) or s.startswith("aws.")]
    if not sources or bad:
        raise ConfigError(f"context 'eventSources' must list the `source` values of your systems' Reversal "
                          f"Requested events (letters, digits, . _ - /; not 'aws.'): {bad or 'none given'}")
    return sources


def _optional_account(raw: Any) -> str | None:
    if raw is None or str(raw).strip().lower() in _NONE_WORDS:
        return None
    return _match(raw, _ACCOUNT_ID, "mturkRequesterAccountId")


def _check_production_access(endpoint: str, allowed: tuple[str, ...], allow_any: bool) -> None:
    """Production decisions move real money: who may call the API must be named, or waived explicitly."""
    if endpoint == "production" and not allowed and not allow_any:
        raise ConfigError(
            "context 'mturkEndpoint'=production needs 'allowedPrincipals' (the IAM roles/users or accounts "
            "that may call the API and put Reversal Requested events), or -c allowAnyPrincipalInAccount=true "
            "to let any principal of this account with IAM permission do so"
        )


class _ExistingTables(TypedDict):
    existing_audit_table_name: str | None
    existing_schedule_table_name: str | None
    existing_data_key_arn: str | None


def _existing_tables(value: Callable[[str], Any]) -> _ExistingTables:
    """Retained tables of an earlier deployment, adopted by name; they are encrypted with its retained key."""
    names = {"existing_audit_table_name": value("existingAuditTableName"),
             "existing_schedule_table_name": value("existingScheduleTableName")}
    names = {k: (None if v is None or str(v).strip().lower() in _NONE_WORDS else _match(v, _TABLE_NAME, k))
             for k, v in names.items()}
    key = value("existingDataKeyArn")
    key = None if key is None or str(key).strip().lower() in _NONE_WORDS else _match(key, _KMS_KEY_ARN,
                                                                                       "existingDataKeyArn")
    if any(names.values()) and key is None:
        raise ConfigError("context 'existingAuditTableName'/'existingScheduleTableName' need 'existingDataKeyArn': "
                          "the retained tables are encrypted with the retained key of that deployment "
                          "(see the stack's DataKeyArn output, or the key's alias)")
    return _ExistingTables(existing_audit_table_name=names["existing_audit_table_name"],
                           existing_schedule_table_name=names["existing_schedule_table_name"],
                           existing_data_key_arn=key)


def _number(raw: Any, key: str, low: _N, high: _N, parse: Callable[[str], _N], kind: str) -> _N:
    """`raw` parsed by `parse` (int or float), within [low, high]; `kind` names it in the error."""
    try:
        number = parse(str(raw).strip())
    except ValueError as exc:
        raise ConfigError(f"context '{key}'={raw!r} is not {kind}") from exc
    if not low <= number <= high:
        raise ConfigError(f"context '{key}'={number} is out of range [{low}, {high}]")
    return number


def _int(raw: Any, key: str, low: int, high: int) -> int:
    return _number(raw, key, low, high, int, "an integer")


def _optional_int(raw: Any, key: str, low: int, high: int) -> int | None:
    if raw is None or str(raw).strip().lower() in _NONE_WORDS:
        return None
    return _int(raw, key, low, high)


def _float(raw: Any, key: str, low: float, high: float) -> float:
    return _number(raw, key, low, high, float, "a number")


def _bool(raw: Any, key: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"context '{key}'={raw!r} is not a boolean")


_RETENTION_BY_DAYS: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def _retention_days(raw: Any) -> int:
    days = _int(raw, "logRetentionDays", 1, 3653)
    if days not in _RETENTION_BY_DAYS:
        raise ConfigError(
            f"context 'logRetentionDays'={days} is not a CloudWatch Logs retention; use one of "
            f"{sorted(_RETENTION_BY_DAYS)}"
        )
    return days


def _retention(days: int) -> logs.RetentionDays:
    return _RETENTION_BY_DAYS[days]
