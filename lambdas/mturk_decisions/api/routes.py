"""The API's resolver (Powertools APIGatewayRestResolver with validation and OpenAPI): the routes, one `Router` per
concern, included here; the answers to what any route raises. Domain errors become HTTP answers in
`error_response` (their statuses: api/http_errors.py).

    upload_routes        POST /batches/uploads, GET /batches/{id}/plan, POST /batches/{id}/apply
    schedule_routes      GET /scheduled-reversals
    assignment_routes    POST /assignments/{id}/reject | reverse | approve | confirm,
                         DELETE /assignments/{id}/scheduled-reversal, GET /assignments/{id}
    notification_routes  PUT /hit-types/{hitTypeId}/notifications
    audit_routes         GET /decisions
    batch_routes         POST /batches, GET /batches/{id}, POST /hits/{hitId}/reversals

The OpenAPI document lists the operations in `api.openapi.DOCUMENT_ORDER`, whatever the order of the routers.
A request includes the routers of its path's first segment when it is resolved (`ROUTERS_BY_SEGMENT`): a cold
environment imports and builds the routes and pydantic models of one concern, not all six; the document and
SnapStart's priming include every router.
"""
from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from mturk_decisions.api import body_guard
from mturk_decisions.api.calls import CurrentCall
from mturk_decisions.api.http_errors import http_status
from mturk_decisions.api.openapi import DocumentedResolver, document_settings
from mturk_decisions.api.schemas import pattern_in_words
from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import (
    DecisionError,
    InvalidFeedback,
    InvalidRequest,
    MalformedJson,
    RouteNotFound,
    UnsupportedMediaType,
)
from mturk_decisions.observability import logger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from aws_lambda_powertools.event_handler.openapi.models import OpenAPI
    from aws_lambda_powertools.utilities.typing import LambdaContext

#: A route handler, as a decorator takes and returns it.
F = TypeVar("F", bound=Callable[..., Any])


#: Every router, by concern (see the module docstring), in the order they are included.
ROUTERS = ("upload_routes", "schedule_routes", "assignment_routes", "notification_routes", "audit_routes",
           "batch_routes")
#: The routers whose routes start with a path's first segment; a path not listed here includes them all (its
#: answer, a 404 included, is the one the whole API gives).
ROUTERS_BY_SEGMENT: dict[str, tuple[str, ...]] = {
    "assignments": ("assignment_routes",),
    "decisions": ("audit_routes",),
    "batches": ("upload_routes", "batch_routes"),
    "hits": ("batch_routes",),
    "scheduled-reversals": ("schedule_routes",),
    "hit-types": ("notification_routes",),
}


def routers_for(path: object) -> tuple[str, ...]:
    segment = path.strip("/").partition("/")[0] if isinstance(path, str) else ""
    return ROUTERS_BY_SEGMENT.get(segment, ROUTERS)


class _LazilyDocumentedResolver(DocumentedResolver):
    """The document's settings (Powertools' OpenAPI models, whose import costs more than the rest of a cold
    request) are made when a document is first asked for, not for every cold start; so is the Swagger UI."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True)
        self._included: set[str] = set()
        self._including = threading.Lock()
        self._settings: dict[str, Any] | None = None
        self._swagger_ui: Callable[[], Response[str]] | None = None
        self._made: list[Callable[[], Response[str]]] | None = None

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        self.include_routers(routers_for(event.get("path")))
        return super().resolve(event, context)

    def include_routers(self, names: Sequence[str] = ROUTERS) -> None:
        """Import and include the routers named (modules of this package), once each: a cold request builds
        the routes and models of its own concern only; the document, SnapStart's priming and the rest, all."""
        with self._including:
            for name in (name for name in ROUTERS if name in names and name not in self._included):
                self.include_router(importlib.import_module(f"{__package__}.{name}").router)
                self._included.add(name)

    def document_settings(self) -> dict[str, Any]:
        if self._settings is None:
            self._settings = document_settings()
            self.configure_openapi(**self._settings)
        return self._settings

    def get_openapi_schema(self, **kwargs: Any) -> OpenAPI:
        self.include_routers()
        self.document_settings()
        return super().get_openapi_schema(**kwargs)

    def swagger_ui(self) -> Callable[[], Response[str]]:
        """Powertools' Swagger UI handler, made by its `enable_swagger` and kept (the route is `swagger`)."""
        if self._swagger_ui is None:
            self._made = []
            try:
                self.enable_swagger(path="/swagger", **self.document_settings())
                self._swagger_ui = self._made[0]
            finally:
                self._made = None
        return self._swagger_ui

    def get(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        made = self._made
        if made is None:
            return super().get(*args, **kwargs)

        def keep(handler: F) -> F:  # `enable_swagger` registering its handler: keep it instead
            made.append(handler)
            return handler

        return keep


app = _LazilyDocumentedResolver()
call = CurrentCall(app)


@app.get("/swagger", include_in_schema=False)  # as `enable_swagger` registers it
def swagger() -> Response[str]:
    """Powertools' Swagger UI (`?format=json`: the document), made by its `enable_swagger` on the first call."""
    return app.swagger_ui()()


def error_response(error: DecisionError) -> Response[str]:
    headers = {"Retry-After": str(error.details["retryAfterSeconds"])} if "retryAfterSeconds" in error.details else None
    body = error.to_body()
    body.setdefault("requestId", _request_id())
    return Response(status_code=http_status(error), content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body), headers=headers)


def _request_id() -> str | None:
    try:
        return call.event.request_context.request_id
    except Exception:
        return None


def on_decision_error(error: DecisionError) -> Response[str]:
    status = http_status(error)
    log = logger.warning if status < 500 else logger.error
    log("request refused", extra={"code": error.code, "status": status})
    return error_response(error)


def on_validation_error(error: RequestValidationError) -> Response[str]:
    return error_response(refusal_of(error.errors()))


def refusal_of(problems: Sequence[dict[str, Any]]) -> DecisionError:
    """Powertools' validation problems as the API's documented errors, in words (no regular expressions)."""
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return MalformedJson("The request body is not valid JSON.")
    if _is_reject() and problems and all(_is_missing_feedback(problem) for problem in problems):
        try:
            rules.validate_feedback(None, required=True)
        except InvalidFeedback as missing:
            return missing
    fields = [{"field": _field_of(problem), "message": _message_of(problem), "type": problem.get("type")}
              for problem in problems]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return InvalidRequest(f"The request is not valid: {summary}", field=fields[0]["field"] if fields else None,
                          errors=fields)


_LOCATIONS = ("body", "path", "query", "header")


def _field_of(problem: dict[str, Any]) -> str:
    parts = [str(part) for part in problem.get("loc", ())]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _message_of(problem: dict[str, Any]) -> str:
    pattern = (problem.get("ctx") or {}).get("pattern")
    if problem.get("type") == "string_pattern_mismatch" and pattern:
        return f"must be {pattern_in_words(pattern)}"
    return str(problem.get("msg", "invalid"))


def _is_reject() -> bool:
    event = app.current_event
    return event.http_method == "POST" and event.path.rstrip("/").endswith("/reject")


def _is_missing_feedback(problem: dict[str, Any]) -> bool:
    """No body, `{}`, or `"feedback": null` on a reject: the feedback rule REQUIRED, not a schema error."""
    location = tuple(problem.get("loc", ()))
    if location == ("body",):
        return problem.get("type") == "missing"
    return location == ("body", "feedback") and (problem.get("type") == "missing" or problem.get("input") is None)


def on_unsupported_content_type(_error: RequestUnsupportedContentType) -> Response[str]:
    return error_response(UnsupportedMediaType(body_guard.SEND_JSON))


def on_unparsable_body(error: ValueError) -> Response[str]:
    """Powertools' multipart parser raises a bare ValueError ("Missing boundary in multipart/form-data")."""
    if "multipart" in str(error).lower() or "boundary" in str(error).lower():
        return error_response(UnsupportedMediaType(body_guard.SEND_JSON))
    return on_unexpected(error)


@app.not_found
def on_not_found(_error: Exception) -> Response[str]:
    event = app.current_event
    return error_response(RouteNotFound(f"No route {event.http_method} {event.path}. See GET /swagger for the API."))


def on_unexpected(error: Exception) -> Response[str]:
    logger.exception("unexpected error")
    body = {"code": "INTERNAL_ERROR", "message": "An unexpected error occurred; it has been logged with this requestId.",
            "requestId": _request_id()}
    return Response(status_code=500, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


#: Exceptions answered by the resolver, whatever route raised them (Powertools' `exception_handler`, called
#: rather than used as a decorator: it is not annotated, and would leave the handlers untyped).
app.exception_handler(DecisionError)(on_decision_error)
app.exception_handler(RequestValidationError)(on_validation_error)
app.exception_handler(RequestUnsupportedContentType)(on_unsupported_content_type)
app.exception_handler(ValueError)(on_unparsable_body)
app.exception_handler(Exception)(on_unexpected)
