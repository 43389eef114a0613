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
