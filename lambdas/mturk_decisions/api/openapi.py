"""The API's OpenAPI document, generated from the routes: what each operation takes and every answer it gives.

The routes declare their answers with `operation(...)` (the keyword arguments of a route decorator): the
models of their 2xx bodies, the domain errors they can raise, whether they take an `Idempotency-Key`, a body
of their own (POST /batches: JSON or CSV) and links to the operations that follow. Every error answer shares
one schema, `ErrorBody`, whose `code` is an enum of every code the API and its gateway answer. Every
operation is SigV4-signed (`sigv4`: API Gateway's `awsSigv4` auth type).

`DocumentedResolver` finishes Powertools' document: it drops the `422 HTTPValidationError` Powertools adds to
every operation (validation errors are answered `400 INVALID_REQUEST` here) and expands the markers that
`operation` leaves. The served document (`GET /swagger?format=json`) and the committed `openapi.json` are
the same text: `python -m mturk_decisions.api.openapi openapi.json` (or `make openapi`) writes it.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI
from pydantic import BaseModel, ConfigDict, Field

from mturk_decisions.api.http_errors import http_status
from mturk_decisions.api.models import BatchRequest, ProblemItem
from mturk_decisions.domain import batch as _batch_errors  # noqa: F401  (InvalidBatch, BatchNotFound)
from mturk_decisions.domain.errors import (
    AuditUnavailable,
    DecisionError,
    DecisionInProgress,
    InvalidNotification,
    InvalidRequest,
    MalformedJson,
    MTurkCredentialsInvalid,
    MTurkFault,
    MTurkRequestRejected,
    MTurkThrottled,
    QueueUnavailable,
    RequestInProgress,
    UnsupportedMediaType,
)

SIGV4 = "sigv4"
SECURITY: list[dict[str, list[str]]] = [{SIGV4: []}]
JSON = "application/json"
_MARK = "x-mturk-decisions"
_COMPONENT = "#/components/schemas/{model}"


@dataclass(frozen=True)
class GatewayError:
    """An error answered by API Gateway itself (or `local/gateway.py` offline), never by the function.

    Deployed, `code` is API Gateway's response type (the stack's gateway responses put it in the body)."""

    code: str
    status: int


#: An error an operation documents: a domain error (its class) or one of the gateway's.
Documented = type[DecisionError] | GatewayError

#: API Gateway: IAM auth, the stage's throttling, body models, payload and time limits; offline, the same
#: answers from local/gateway.py (whose own names for two of them are PAYLOAD_TOO_LARGE and BAD_GATEWAY).
SIGNATURE = tuple(GatewayError(code, 403) for code in (
    "MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "ACCESS_DENIED", "EXPIRED_TOKEN"))
GATEWAY = (
    *SIGNATURE,
    GatewayError("REQUEST_URI_TOO_LONG", 414), GatewayError("REQUEST_HEADER_FIELDS_TOO_LARGE", 431),
    GatewayError("THROTTLED", 429),
    GatewayError("BAD_GATEWAY", 502), GatewayError("INTEGRATION_FAILURE", 502),
    GatewayError("INTEGRATION_TIMEOUT", 504),
)
GATEWAY_BODY = (GatewayError("BAD_REQUEST_BODY", 400), GatewayError("PAYLOAD_TOO_LARGE", 413),
                GatewayError("REQUEST_TOO_LARGE", 413))
#: Answered by the local gateway for requests http.server cannot read (HTTPStatus names), and API Gateway's
#: catch-all response types.
OTHER_GATEWAY_CODES = ("BAD_REQUEST", "HTTP_VERSION_NOT_SUPPORTED",
                       "BAD_REQUEST_PARAMETERS", "DEFAULT_4XX", "DEFAULT_5XX")
#: Errors whose answer carries a Retry-After header (their `retryAfterSeconds`).
RETRY_AFTER = frozenset({DecisionInProgress, RequestInProgress, MTurkThrottled, QueueUnavailable})

#: What any operation can answer, and what any call to MTurk can add.
EVERY_OPERATION = (InvalidRequest, AuditUnavailable, *GATEWAY)
WITH_A_BODY = (MalformedJson, UnsupportedMediaType, *GATEWAY_BODY)
MTURK = (MTurkThrottled, MTurkFault, MTurkCredentialsInvalid, MTurkRequestRejected)
#: What a route that sends the worker a notice adds.
NOTIFYING = (InvalidNotification,)
#: The operations in the order the document lists them, whichever module registers them (the order of the
#: document as first published, when one module registered every route); one not listed comes after them.
DOCUMENT_ORDER = (
    "getUploadPlan", "applyUpload", "rejectAssignment", "reverseAssignment", "confirmProvisionalRejection",
    "cancelScheduledReversal", "setHitTypeNotifications", "approveAssignment", "getAssignment", "reverseHit",
    "getBatch", "createUpload", "listScheduledReversals", "listDecisions", "submitBatch",
)


def _error_classes() -> list[type[DecisionError]]:
    found, pending = [], [DecisionError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def error_codes() -> list[str]:
    """Every code an error answer can carry: the domain's errors, and the gateway's."""
    gateway = {error.code for error in GATEWAY + GATEWAY_BODY} | set(OTHER_GATEWAY_CODES)
    return sorted({error.code for error in _error_classes()} | gateway)


if TYPE_CHECKING:  # mypy reads an Enum's members from literals only; these are computed from the errors
    class ErrorCode(str, Enum):  # noqa: UP042 - as the run-time one (a str Enum)
        """Every code an error answer can carry."""
else:
    ErrorCode = Enum("ErrorCode", {code: code for code in error_codes()}, type=str)


class ErrorBody(BaseModel):
    """Every error answer. Details depend on the code (see the README's Errors table); unknown members may
    be added later."""

    model_config = ConfigDict(extra="allow")

    code: ErrorCode
    message: str
    requestId: Optional[str] = None
    field: Optional[str] = Field(default=None, description="The field, parameter, header or column at fault.")
    errors: Optional[list[ProblemItem]] = Field(default=None, description="Each problem of the request.")
    errorCount: Optional[int] = None
    rule: Optional[str] = Field(default=None, description="INVALID_FEEDBACK: REQUIRED, MAX_LENGTH, "
                                "FORBIDDEN_CHARACTER, INVALID_UNICODE or MTURK.")
    retryAfterSeconds: Optional[int] = None
    byteOffset: Optional[int] = Field(default=None, description="A body that is not UTF-8: where.")


_RETRY_AFTER_HEADER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
_WARNING_HEADER = {"description": "199 warning: the decision was made but its answer could not be saved for "
                   "the Idempotency-Key.", "schema": {"type": "string"}}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Makes a retried request return the first answer (scoped to the caller, the route and the "
                   "resource); the same key with a different body is refused (422 IDEMPOTENCY_KEY_REUSED).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": r"\S"},
}


def operation(summary: str, operation_id: str, *, ok: dict[int, tuple[Any, str]], errors: Iterable[Documented] = (),
              body: bool = False, idempotent: bool = False, request_body: dict[str, Any] | None = None,
              links: dict[int, dict[str, Any]] | None = None, description: str | None = None) -> dict[str, Any]:
    """The keyword arguments of a route decorator that document it.

    `ok`: {status: (model, description)}; `errors`: the domain errors (classes) or `GatewayError`s the route
    adds to what every operation can answer; `body`: it reads a body (415, 413, MALFORMED_JSON);
    `request_body`: a body the route reads itself ({media type: model or schema}); `links`: {status: links}."""
    everything = [*EVERY_OPERATION, *(WITH_A_BODY if body or request_body else ()), *errors]
    responses: dict[int, dict[str, Any]] = {}
    for status, (model, what) in ok.items():
        responses[status] = {"description": what, "content": {JSON: {"model": model}}}
        if idempotent:
            responses[status]["headers"] = {"Warning": _WARNING_HEADER}
    for status, errors_at in sorted(_by_status(everything).items()):
        responses[status] = _error_response(status, errors_at)
    for status, status_links in (links or {}).items():
        responses[status]["links"] = status_links
    marks = {"idempotent": idempotent, "requestBody": _request_body(request_body) if request_body else None}
    return {"summary": summary, "description": description, "operation_id": operation_id,
            "responses": responses, "security": SECURITY,
            "openapi_extensions": {_MARK: {k: v for k, v in marks.items() if v}}}


def _by_status(errors: Iterable[Documented]) -> dict[int, list[Documented]]:
    grouped: dict[int, list[Documented]] = {}
    for error in errors:
        status = error.status if isinstance(error, GatewayError) else http_status(error)
        if error not in grouped.setdefault(status, []):
            grouped[status].append(error)
    return grouped


def _error_response(status: int, errors: list[Documented]) -> dict[str, Any]:
    codes = ", ".join(sorted({error.code for error in errors}))
    response: dict[str, Any] = {"description": f"{HTTPStatus(status).phrase}: {codes}.",
                                "content": {JSON: {"model": ErrorBody}}}
    if any(error in RETRY_AFTER for error in errors):
        response["headers"] = {"Retry-After": _RETRY_AFTER_HEADER}
    return response


def _request_body(media_types: dict[str, Any]) -> dict[str, Any]:
    """{media type: a model, or a media type object (`schema`, `example`)} as a request body."""
    content = {}
    for media_type, body in media_types.items():
        content[media_type] = body if isinstance(body, dict) else {"schema": {"$ref": _ref(body)}}
    return {"required": True, "content": content}


def _ref(model: type[BaseModel]) -> str:
    return _COMPONENT.format(model=model.__name__)


#: Models a request body refers to that no route's parameters bring into the document.
_EXTRA_MODELS = (BatchRequest,)


class DocumentedResolver(APIGatewayRestResolver):
    """Powertools' resolver, whose OpenAPI document says what the API really answers."""

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        from aws_lambda_powertools.event_handler.openapi.models import OpenAPI

        schema = super().get_openapi_schema(**kwargs)
        document = json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))
        return OpenAPI.model_validate(finish(document))


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """Drop Powertools' validation-error answers, expand `operation`'s marks, add the extra models."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    for model in _EXTRA_MODELS:
        definition = model.model_json_schema(ref_template=_COMPONENT)
        schemas.update(definition.pop("$defs", {}))
        schemas[model.__name__] = definition
    paths = document.get("paths", {})
    for path_item in paths.values():
        for op in path_item.values():
            _finish_operation(op)
    if paths:
        document["paths"] = dict(sorted(paths.items(), key=lambda path: _document_rank(path[1])))
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def _document_rank(path_item: dict[str, Any]) -> int:
    """Where a path goes in the document: at its first operation in DOCUMENT_ORDER (sorting is stable)."""
    ranks = [DOCUMENT_ORDER.index(op["operationId"]) for op in path_item.values()
             if isinstance(op, dict) and op.get("operationId") in DOCUMENT_ORDER]
    return min(ranks, default=len(DOCUMENT_ORDER))


def _finish_operation(op: dict[str, Any]) -> None:
    validation = op["responses"].get("422", {}).get("content", {}).get(JSON, {}).get("schema", {})
    if validation.get("$ref", "").endswith("/HTTPValidationError"):
        del op["responses"]["422"]
    marks = op.pop(_MARK, {})
    if marks.get("requestBody"):
        op["requestBody"] = marks["requestBody"]
    if marks.get("idempotent"):
        op.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    op["responses"] = dict(sorted(op["responses"].items()))


def document_settings() -> dict[str, Any]:
    """Title, servers and security of the document, for `configure_openapi` and `enable_swagger` alike."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn, Server, ServerVariable

    sigv4 = APIKey.model_validate({  # `in` by its alias: a Python keyword
        "in": APIKeyIn.header, "name": "Authorization",
        "description": "AWS Signature Version 4 for the service `execute-api` (IAM auth): awscurl, curl --aws-sigv4, "
                       "or any AWS SDK signer.",
        "openapi_extensions": {"x-amazon-apigateway-authtype": "awsSigv4"}})
    server = Server(url="https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
                    description="The deployed API (`make demo` serves the same API at http://127.0.0.1:PORT/v1).",
                    variables={"restApiId": ServerVariable(default="example"),
                               "region": ServerVariable(default="us-east-1"),
                               "stage": ServerVariable(default="v1")})
    return {"title": "mturk-decisions", "version": "1.0.0", "description": _DESCRIPTION, "servers": [server],
            "security_schemes": {SIGV4: sigv4}, "security": SECURITY}


_DESCRIPTION = (
    "Reject MTurk assignments and reverse rejections, audited. Every call is SigV4-signed (IAM auth). "
    "Every error is JSON `{code, message, ...details, requestId}`; errors the gateway answers itself (403, "
    "413, 414, 431, 429 THROTTLED, 502, 504) carry API Gateway's response type as `code`."
)


def document_json() -> str:
    """The document as the committed `openapi.json` holds it."""
    from mturk_decisions.api.routes import app

    return json.dumps(json.loads(app.get_openapi_json_schema()), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "openapi.json")
    target.write_text(document_json(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
