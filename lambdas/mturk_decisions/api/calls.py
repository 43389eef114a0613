"""What every route module asks of the request it answers: who calls, the Idempotency-Key, and JSON answers run
once per key. A `CurrentCall` is bound to the resolver or to a Powertools `Router` (whose event, once the router
is included, is the resolver's)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from mturk_decisions.api import idempotency


def json_answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


class CurrentCall:
    """The request a route of `router` is answering."""

    def __init__(self, router: BaseRouter) -> None:
        self._router = router

    @property
    def event(self) -> APIGatewayProxyEvent:
        event = self._router.current_event
        if not isinstance(event, APIGatewayProxyEvent):  # the REST resolver makes only these
            raise TypeError(f"not an API Gateway REST event: {type(event).__name__}")
        return event

    def actor(self) -> str:
        """The caller's IAM identity, as API Gateway authenticated it."""
        identity = self.event.request_context.identity
        return identity.user_arn or identity.caller or identity.user or "unknown"

    def idempotency_key(self) -> str | None:
        key = self.event.headers.get(idempotency.HEADER)
        return idempotency.checked_key(key) if key is not None else None

    def scope(self, route: str, resource: str) -> idempotency.Scope:
        return idempotency.Scope(principal=self.actor(), route=route, resource=resource)

    def answer(self, status: int, scope: idempotency.Scope, fields: dict[str, Any],
               act: Callable[[], dict[str, Any]]) -> Response[dict[str, Any]]:
        """Run `act` once per Idempotency-Key (when one is sent) and answer with its result."""
        key = self.idempotency_key()
        if key is None:
            return json_answer(status, act())
        answer = idempotency.run_once(key, scope, fields, act)
        return json_answer(status, answer.body, {"Warning": answer.warning} if answer.warning else None)
