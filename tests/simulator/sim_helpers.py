"""Constants and client helpers shared by the simulator tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

KEY = "SIMKEYREQUESTERA"
SECRET = "sim-secret-a"
OTHER_KEY = "SIMKEYREQUESTERB"
OTHER_SECRET = "sim-secret-b"
T0 = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
TARGET_PREFIX = "MTurkRequesterServiceV20170117"
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


def make_client(server, key=KEY, secret=SECRET, config=NO_RETRIES, region="us-east-1"):
    return boto3.client("mturk", region_name=region, endpoint_url=server.url,
                        aws_access_key_id=key, aws_secret_access_key=secret, config=config)


def signed_request(url, body: bytes, headers: dict, key=KEY, secret=SECRET, service="mturk-requester",
                   region="us-east-1", method="POST"):
    """Sign with botocore's SigV4Auth and send with ``requests``, as a non-boto3 client would."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    return requests.request(method, url, data=body, headers=dict(request.headers), timeout=10)


def raw_call(server, operation: str, params, **kwargs) -> requests.Response:
    body = params if isinstance(params, bytes) else json.dumps(params).encode()
    headers = {"X-Amz-Target": f"{TARGET_PREFIX}.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    return signed_request(server.url + "/", body, headers, **kwargs)


def error_of(exc_info) -> tuple[str, str]:
    error = exc_info.value.response["Error"]
    return error["Code"], error["Message"]


def admin(server, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, f"{server.url}/_admin{path}", json=body, timeout=10)
