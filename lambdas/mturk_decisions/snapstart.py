"""SnapStart runtime hooks: what a function's snapshot holds, and what each restored environment makes fresh.

With SnapStart on (infra/constructs/functions.py: the API and the queue consumers), Lambda initializes a
function when a version is published: it imports the handler module, runs the before-snapshot hooks and
snapshots the environment; every new execution environment resumes from that snapshot and runs the
after-restore hooks before its first event. The handler modules call `register(...)` at import; the hooks go
to Lambda's `snapshot_restore_py` (in the Python managed runtime; not installed offline, where `register`
does nothing). They are plain functions: the tests and the benchmark call them directly.

`before_snapshot` makes everything that depends neither on credentials nor on time:
- the composition root's client-free parts (`wiring.prime`: services, stores and their PynamoDB models);
- for the API, the resolver with its routes, every route's validation models and the OpenAPI document
  (Powertools builds them on a route's first request otherwise), the idempotency layer's configuration, and
  one request refused by validation through the resolver (no handler code, no log line, no network);
- botocore's service models and endpoint rules of every AWS service the function calls, read into the
  environment's shared loader (`adapters.aws_clients`) by clients that use placeholder keys and answer
  themselves: no request leaves the process, no credentials are resolved, no secret is read.
Last, the cyclic collector (paused for the cold start, `mturk_decisions.collector`) collects, freezes what was made
and resumes: a restored environment never scans it. Nothing secret is in a snapshot: no credentials, no MTurk
key, no client made with either, no connection.

`after_restore` makes fresh what must be unique or current in each environment: `random`'s state and the MTurk
gateways' retry jitter (every environment would otherwise draw the same numbers; uuid4 reads os.urandom), the
credentials the shared session may hold, and the MTurk client and secret cache (both read again on first use).
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, wiring
from mturk_decisions.adapters import aws_clients

if TYPE_CHECKING:
    from botocore.awsrequest import AWSResponse

try:  # the Python managed runtime's own library (SnapStart runtime hooks)
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # offline: tests, the local stack, the benchmark
    register_after_restore = register_before_snapshot = None

API = "api"
_PLACEHOLDER_KEY = "SNAPSTARTPRIMING0000"  # not a key: the priming clients never send anything
_registered = False
#: One call per AWS service, made by a priming client that answers it itself (endpoint rules, serializing,
#: signing with the placeholder key, parsing), and what it answers; S3's is a presigned URL (nothing sent).
PRIMING_CALLS: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None]] = {
    "dynamodb": ("get_item", {"TableName": "priming", "Key": {"pk": {"S": "priming"}}}, {}),
    "secretsmanager": ("get_secret_value", {"SecretId": "priming"}, {"Name": "priming"}),
    "mturk": ("get_account_balance", {}, {"AvailableBalance": "0.00"}),
    "events": ("put_events", {"Entries": [{"Source": "priming", "DetailType": "priming", "Detail": "{}"}]},
               {"FailedEntryCount": 0, "Entries": []}),
    "sqs": ("send_message", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/priming",
                             "MessageBody": "priming"}, {"MessageId": "priming"}),
    "s3": ("put_object", {"Bucket": "priming", "Key": "uploads/priming.csv"}, None),
}


def register(handler: str) -> bool:
    """Register the hooks for `handler` (`API` or a queue consumer's name) with Lambda; False offline."""
    global _registered
    if register_before_snapshot is None or _registered:
        return False
    register_before_snapshot(before_snapshot, handler)
    register_after_restore(after_restore)
    _registered = True
    return True


def before_snapshot(handler: str = API) -> None:
    """Make everything that depends neither on credentials nor on time (see the module docstring)."""
    dependencies = wiring.prime()
    prime_botocore(aws_services(dependencies.settings), dependencies.settings)
    if handler == API:
        prime_api()
    collector.resume(collect_first=True)  # the snapshot holds no cyclic garbage, and its heap frozen


def after_restore() -> None:
    """Make fresh what must be unique or current in this environment (see the module docstring)."""
    random.seed()
    wiring.jitter.seed()
    aws_clients.forget_credentials()
    wiring.forget_secrets()


def aws_services(settings: Any) -> list[str]:
    """The AWS services a function with `settings` calls (MTurk included)."""
    services = ["dynamodb", "secretsmanager", "mturk"]
    if settings.event_bus_name:
        services.append("events")
    if settings.work_queue_url or settings.events_dlq_url or settings.notifications_dlq_url:
        services.append("sqs")
    if settings.upload_bucket_name:
        services.append("s3")
    return services


def prime_botocore(services: list[str], settings: Any) -> None:
    """Read each service's model and endpoint rules into the shared loader, through a priming client."""
    for service in services:
        client = _priming_client(service, settings)
        operation, parameters, answer = PRIMING_CALLS[service]
        try:
            if answer is None:
                client.generate_presigned_url(operation, Params=parameters, ExpiresIn=60)
            else:
                getattr(client, operation)(**parameters)
        finally:
            client.close()


def _priming_client(service: str, settings: Any) -> Any:
    from mturk_decisions.adapters.mturk import MTURK_REGION, resolve_endpoint

    options: dict[str, Any] = {"aws_access_key_id": _PLACEHOLDER_KEY, "aws_secret_access_key": _PLACEHOLDER_KEY}
    if service == "mturk":
        options.update(region_name=MTURK_REGION, endpoint_url=resolve_endpoint(settings.mturk_endpoint))
    else:
        options["region_name"] = settings.region or os.environ.get("AWS_REGION") or MTURK_REGION
    client = aws_clients.client(service, **options)
    answer = PRIMING_CALLS[service][2]
    if answer is not None:
        client.meta.events.register_first("before-send", _answers(answer))
    return client


def _answers(body: dict[str, Any]) -> Callable[..., AWSResponse]:
    """A before-send handler: the request gets `body` (HTTP 200) instead of being sent."""
    from botocore.awsrequest import AWSResponse

    content = json.dumps(body).encode()

    class Raw:
        def stream(self, *_args: Any, **_kwargs: Any) -> Iterator[bytes]:
            yield content

    def answer(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"x-amzn-requestid": "snapstart-priming"}, Raw())

    return answer


def prime_api() -> None:
    """The resolver, every route's validation models, the OpenAPI document, the idempotency configuration,
    and one request refused by validation (the whole resolve path, no handler code)."""
    from mturk_decisions.api import body_guard, idempotency
    from mturk_decisions.api.routes import app

    app.get_openapi_schema()
    idempotency.prime()
    body_guard.problem(_REFUSED_BY_VALIDATION)
    answer = app.resolve(_REFUSED_BY_VALIDATION, _PrimingContext())
    if answer.get("statusCode") != 400:
        raise RuntimeError(f"the priming request was not refused by validation: {answer.get('statusCode')}")


class _PrimingContext(LambdaContext):
    _function_name, _function_version, _memory_limit_in_mb = "snapstart-priming", "$LATEST", 512
    _aws_request_id, _log_group_name, _log_stream_name = "snapstart-priming", "priming", "priming"
    _invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:snapstart-priming"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


_PRIMING_PATH = "/assignments/SNAPSTARTPRIMING0000000000000/reject"
#: A reject whose body is not JSON: refused 400 MALFORMED_JSON by validation, before any route code runs.
_REFUSED_BY_VALIDATION: dict[str, Any] = {
    "resource": "/{proxy+}", "path": _PRIMING_PATH, "httpMethod": "POST",
    "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"Content-Type": ["application/json"]},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": {"proxy": _PRIMING_PATH[1:]}, "stageVariables": None, "body": "{", "isBase64Encoded": False,
    "requestContext": {"accountId": "000000000000", "apiId": "priming", "httpMethod": "POST", "stage": "v1",
                       "identity": {"userArn": "arn:aws:iam::000000000000:user/priming", "caller": "priming",
                                    "sourceIp": "127.0.0.1", "userAgent": "priming"},
                       "path": "/v1" + _PRIMING_PATH, "protocol": "HTTP/1.1", "requestId": "snapstart-priming",
                       "requestTimeEpoch": 0, "resourcePath": "/{proxy+}"},
}
