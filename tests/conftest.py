"""Fake AWS credentials and region before anything creates a boto3 client; moto imported first."""
import os

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "mturk-decisions",
        "POWERTOOLS_METRICS_NAMESPACE": "MTurkDecisions",
        "POWERTOOLS_DEV": "false",
    }
)
for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
    os.environ.pop(name, None)

import moto  # noqa: E402,F401  (must precede any code that builds boto3 clients)

# The MTurk secret must never appear in a log line or a response: any test whose captured output holds
# it fails the whole run, whichever suite it belongs to.
from local.stack import DEMO_MTURK_KEY  # noqa: E402

_WATCHED_SECRETS = (DEMO_MTURK_KEY[1],)
_leaks: list[str] = []


def pytest_runtest_logreport(report):
    texts = [content for _, content in report.sections] + [report.longreprtext or ""]
    if any(secret in text for secret in _WATCHED_SECRETS for text in texts):
        _leaks.append(f"{report.nodeid} ({report.when})")


def pytest_terminal_summary(terminalreporter):
    if _leaks:
        terminalreporter.section("secret leak", red=True)
        for leak in sorted(set(_leaks)):
            terminalreporter.write_line(f"the MTurk secret's value appears in the captured output of {leak}")


def pytest_sessionfinish(session, exitstatus):
    if _leaks and session.exitstatus == 0:
        session.exitstatus = 1
