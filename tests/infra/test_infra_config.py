"""Context parameters: defaults, parsing of `-c key=value` strings, and validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import infra.config
from infra.config import DEFAULTS, ConfigError, ServiceConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def config(**context) -> ServiceConfig:
    return ServiceConfig.from_context(context.get)


def test_defaults_without_any_context():
    # Given no context at all
    # When synth reads the settings
    c = config()
    # Then every setting has its documented default
    assert c.stack_name == "MTurkDecisions"
    assert c.mturk_endpoint == "sandbox"
    assert c.alarm_email is None
    assert c.allowed_principals == ()
    assert (c.api_throttle_rate_limit, c.api_throttle_burst_limit) == (10, 20)
    # No reservation anywhere: a new account, whose Lambda quota is 10, can deploy the defaults
    assert c.api_reserved_concurrency is None
    assert c.stage_name == "v1"
    assert c.log_retention_days == 90
    # The account-wide API Gateway logging role is left alone unless asked
    assert c.api_gateway_cloudwatch_role is False
    assert c.worker_reserved_concurrency is None
    assert (c.mturk_initial_rate, c.mturk_max_rate) == (5, 50)
    assert c.work_queue_max_age_minutes == 30
    assert c.sweeper_reserved_concurrency is None
    assert c.event_sources == ("mturk-decisions.requester",) and c.event_publishers == ()
    assert c.reconcile_after_seconds == 900
    assert c.website_rejection_grace == ""
    assert c.event_archive_retention_days == 30


def test_cdk_json_context_gives_the_same_settings_as_the_defaults():
    # Given cdk.json's context
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    # When / Then it gives the same values as the code defaults
    assert config(**context) == config()
    # And every service key it sets is a known parameter (a typo there would be silently ignored)
    service_keys = {key for key in context if not key.startswith("@")}
    assert service_keys <= set(DEFAULTS)


def test_every_parameter_is_documented_with_its_default():
    # Given the context-parameter table of infra/config.py
    doc = infra.config.__doc__
    # When / Then every parameter has its row, showing its default
    for key, default in DEFAULTS.items():
        row = next((line for line in doc.splitlines() if line.startswith(f"| {key} ")), None)
        assert row is not None, key
        shown = "(none)" if default in (None, [], "") else json.dumps(default).strip('"')
        assert row.split("|")[2].strip() == shown, key


def test_bulk_settings_from_the_command_line():
    # Given `-c` strings for the batch worker
    # When synth reads them
    c = config(workerReservedConcurrency="none", mturkInitialRate="0.5", mturkMaxRate="8", workQueueMaxAgeMinutes="90")
    # Then they are parsed ("none" = unreserved)
    assert c.worker_reserved_concurrency is None
    assert (c.mturk_initial_rate, c.mturk_max_rate) == (0.5, 8)
    assert c.work_queue_max_age_minutes == 90
    assert config(workerReservedConcurrency="3").worker_reserved_concurrency == 3


def test_automatic_reversal_settings_from_the_command_line():
    # Given `-c` strings for the sweeper, the reconciler, the notifications consumer and the archive
    c = config(
        sweeperReservedConcurrency="none",
        reconcileAfterSeconds="3600",
        websiteRejectionGrace="PT72H",
        eventArchiveRetentionDays="90",
    )
    # Then they are parsed ("none" = unreserved sweeper)
    assert c.sweeper_reserved_concurrency is None
    assert c.reconcile_after_seconds == 3600
    assert c.website_rejection_grace == "PT72H"
    assert c.event_archive_retention_days == 90


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("P3D", "P3D"), ("pt72h", "PT72H"), (" P1DT12H ", "P1DT12H"), ("PT90M", "PT90M"), ("P30D", "P30D"),
     ("", ""), ("none", ""), (None, "")],
)
def test_website_rejection_grace_is_an_iso_duration_or_empty(raw, expected):
    # Given an ISO 8601 duration (any case, trimmed) or nothing
    # When / Then the Lambda gets its canonical form
    assert config(websiteRejectionGrace=raw).website_rejection_grace == expected


@pytest.mark.parametrize("raw", ["PT72H", "P3D", "P1DT12H", "PT90M", "PT45S", "P30D"])
def test_an_accepted_grace_is_one_the_lambda_parses_to_the_same_length(raw):
    # Given a grace synth accepts
    from mturk_decisions.domain.schedule import parse_duration

    accepted = config(websiteRejectionGrace=raw.lower()).website_rejection_grace
    # When / Then the notifications consumer's own parser reads the same duration
    assert parse_duration(accepted, "WEBSITE_REJECTION_GRACE") == parse_duration(raw, "WEBSITE_REJECTION_GRACE")


@pytest.mark.parametrize("raw", ["72h", "P", "PT", "P1W", "P1M", "P1DT", "PT0S", "P31D", "-PT1H", "3600"])
def test_website_rejection_grace_outside_the_lambdas_grammar_is_refused(raw):
    # Given a duration the Lambda cannot parse (weeks, months, bare numbers), zero, or beyond MTurk's
    # 30-day reversal window
    # When / Then synth stops naming the key instead of every cold start failing
    with pytest.raises(ConfigError, match="websiteRejectionGrace"):
        config(websiteRejectionGrace=raw)


def test_initial_rate_above_the_maximum_is_refused():
    # Given a worker told to start faster than it may ever go
    # When / Then synth stops naming both keys
    with pytest.raises(ConfigError, match="mturkInitialRate.*mturkMaxRate"):
        config(mturkInitialRate="60")


@pytest.mark.parametrize("endpoint", ["sandbox", "production", "https://mturk-requester.us-east-1.amazonaws.com"])
def test_valid_endpoints(endpoint):
    # Given a named MTurk endpoint or an https URL
    # When / Then it is passed through to the Lambda as is
    assert config(mturkEndpoint=endpoint, allowedPrincipals="123456789012").mturk_endpoint == endpoint


def test_production_needs_named_principals_or_an_explicit_waiver():
    # Given production without allowedPrincipals
    # When / Then synth stops naming both ways out
    with pytest.raises(ConfigError, match="allowedPrincipals.*allowAnyPrincipalInAccount"):
        config(mturkEndpoint="production")
    # And with the waiver it deploys (any principal of the account with IAM permission may call)
    assert config(mturkEndpoint="production", allowAnyPrincipalInAccount="true").allowed_principals == ()


def test_event_publishers_default_to_the_allowed_principals_and_sources_are_checked():
    # Given a principal allowed to call the API
    arn = "arn:aws:iam::111122223333:role/qa-system"
    # When / Then it may publish events unless told otherwise, and event sources are checked
    assert config(allowedPrincipals=arn).event_publishers == (arn,)
    assert config(allowedPrincipals=arn, eventPublishers="[]").event_publishers == ()
    assert config(eventSources="acme.qa, acme.billing").event_sources == ("acme.qa", "acme.billing")
    for bad in ("aws.events", "", "bad source!"):
        with pytest.raises(ConfigError, match="eventSources"):
            config(eventSources=bad)


def test_a_reservation_of_one_worker_is_refused():
    # Given workerReservedConcurrency=1 under an event source that runs 2 at least
    # When / Then synth stops
    with pytest.raises(ConfigError, match="workerReservedConcurrency"):
        config(workerReservedConcurrency="1")


def test_adopting_retained_tables_needs_their_key():
    # When / Then adopting the audit table without its key stops synth
    with pytest.raises(ConfigError, match="existingDataKeyArn"):
        config(existingAuditTableName="MTurkDecisions-AuditStoreAuditTable-ABC")
    # And with its key the table is adopted
    key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    adopted = config(existingAuditTableName="MTurkDecisions-AuditStoreAuditTable-ABC", existingDataKeyArn=key)
    assert adopted.existing_audit_table_name.endswith("ABC") and adopted.existing_data_key_arn == key


@pytest.mark.parametrize("endpoint", ["prod", "http://insecure.example.com", ""])
def test_invalid_endpoint_is_refused_with_the_key_name(endpoint):
    # Given a typo or a plain-http URL
    # When / Then synth stops with a message naming the context key
    with pytest.raises(ConfigError, match="mturkEndpoint"):
        config(mturkEndpoint=endpoint)


def test_allowed_principals_from_a_command_line_string():
    # Given `-c allowedPrincipals=<arn>,<account>` (a string)
    # When synth reads it
    c = config(allowedPrincipals="arn:aws:iam::111122223333:user/ci, 444455556666")
    # Then both are parsed and split by kind
    assert c.allowed_principal_arns == ("arn:aws:iam::111122223333:user/ci",)
    assert c.allowed_account_ids == ("444455556666",)


def test_allowed_principals_from_json():
    # Given a JSON list (string from the command line, or a real list from cdk.json)
    # When synth reads it
    c = config(allowedPrincipals='["arn:aws:iam::111122223333:role/path/ops"]')
    # Then it is parsed
    assert c.allowed_principals == ("arn:aws:iam::111122223333:role/path/ops",)
    assert config(allowedPrincipals=["123456789012"]).allowed_account_ids == ("123456789012",)


@pytest.mark.parametrize("bad", ["arn:aws:iam::111122223333:role/*", "12345", "arn:aws:s3:::bucket", "[1, 2"])
def test_invalid_principals_are_refused(bad):
    # Given a wildcard, a short id, a non-IAM ARN or broken JSON
    # When / Then synth stops
    with pytest.raises(ConfigError, match="allowedPrincipals"):
        config(allowedPrincipals=bad)


def test_strings_from_the_command_line_are_converted():
    # Given `-c key=value` strings
    # When synth reads them
    c = config(
        apiThrottleRateLimit="2.5",
        apiThrottleBurstLimit="5",
        apiReservedConcurrency="none",
        apiGatewayCloudWatchRole="false",
        alarmEmail="ops@example.com",
        logRetentionDays="30",
    )
    # Then they become numbers, booleans and None ("none")
    assert c.api_throttle_rate_limit == 2.5
    assert c.api_throttle_burst_limit == 5
    assert c.api_reserved_concurrency is None
    assert c.api_gateway_cloudwatch_role is False
    assert c.alarm_email == "ops@example.com"
    assert c.log_retention_days == 30


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("apiReservedConcurrency", "0"),
        ("apiThrottleBurstLimit", "many"),
        ("powertoolsLayerVersion", "27"),
        ("logRetentionDays", "31"),
        ("alarmEmail", "not-an-email"),
        ("stageName", "has space"),
        ("stackName", "1starts-with-digit"),
        ("apiGatewayCloudWatchRole", "maybe"),
        ("workerReservedConcurrency", "0"),
        ("mturkInitialRate", "fast"),
        ("mturkMaxRate", "0.4"),
        ("workQueueMaxAgeMinutes", "0"),
        ("workQueueMaxAgeMinutes", str(4 * 24 * 60)),
        ("sweeperReservedConcurrency", "0"),
        # Below the longest function timeout the reconciler could settle a decision still in flight.
        ("reconcileAfterSeconds", "899"),
        ("reconcileAfterSeconds", "soon"),
        ("eventArchiveRetentionDays", "0"),
        ("eventArchiveRetentionDays", "many"),
    ],
)
def test_invalid_values_are_refused_with_the_key_name(key, value):
    # Given an out-of-range or malformed value
    # When / Then synth stops with a message naming the key
    with pytest.raises(ConfigError, match=key):
        config(**{key: value})
