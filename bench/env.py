"""Process set-up shared by the benchmarks: fake AWS credentials, quiet logs, import paths.

Call ``prepare()`` before anything imports boto3 or the Lambda code.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"

#: Obviously fake keys only (moto accepts anything).
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "mturk-decisions",
    "POWERTOOLS_METRICS_NAMESPACE": "MTurkDecisions",
    "POWERTOOLS_DEV": "false",
}
#: Anything that would send boto3 somewhere else than this machine, or change its retry behaviour.
DROPPED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB",
           "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SQS", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS",
           "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def prepare() -> None:
    for name in DROPPED:
        os.environ.pop(name, None)
    os.environ.update(FAKE_ENV)
    # No config or credentials file of the machine's user may leak in.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    for path in (str(ROOT), str(LAMBDAS)):
        if path not in sys.path:
            sys.path.insert(0, path)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
