"""`Idempotency-Key`: a retried request returns the first answer and never calls MTurk twice.

Powertools idempotency on DynamoDB, keyed by who asks (the caller's IAM principal ARN), what (the route)
and on what (the assignment, HIT or batch body), plus the key: another principal sending the same key
makes a different request. Reusing a key with a different body is refused. Failed decisions are not
stored, so a retry after a failure tries again. The decision, not the idempotency store, is the truth:
an answer that could not be saved after MTurk applied the change is still answered (with a warning), and
a retry that finds the assignment already changed by this very key's decision answers it from the audit.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import wiring
from mturk_decisions.domain.errors import AuditUnavailable, IdempotencyKeyReused, InvalidRequest, RequestInProgress

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 256
#: The Powertools layer (its import, its config, the DynamoDB client of its store) is made the first time a
#: request sends a key, not for every request: `register` only remembers the invocation's context.
UNSAVED_WARNING = ('199 mturk-decisions "The decision was made, but its answer could not be saved for this '
                   'Idempotency-Key: a retry with the key answers 409 REQUEST_IN_PROGRESS for a few minutes, then '
                   'this decision again."')
_config: IdempotencyConfig | None = None
_context: LambdaContext | None = None


@dataclass(frozen=True)
class Scope:
    """Who asks, what, and on what: the key is unique within a scope only."""

    principal: str
    route: str
    resource: str

    def fingerprint(self, key: str) -> str:
        """A stable hash of scope and key, kept on the decision's audit record."""
        raw = "\n".join((self.principal, self.route, self.resource, key)).encode("utf-8", "surrogatepass")
        return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    warning: str | None = None


def _idempotency_config() -> IdempotencyConfig:
    global _config
    if _config is None:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        config = IdempotencyConfig(
            event_key_jmespath="[principal, route, resource, idempotencyKey]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=wiring.current().settings.idempotency_expiry_seconds,
        )
        if _context is not None:
            config.register_lambda_context(_context)
        _config = config
    return _config


def register(context: LambdaContext) -> None:
    """Remember this invocation's Lambda context: Powertools gets it (remaining time) before an idempotent
    call (`run_once`); a request without a key never loads the idempotency layer."""
    global _context
    _context = context
    if _config is not None:
        _config.register_lambda_context(context)


def prime() -> None:
    """The layer's modules and configuration, without its store (SnapStart's before-snapshot hook)."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: F401
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError  # noqa: F401

    _idempotency_config()


def checked_key(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH or not key.strip():
        raise InvalidRequest(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.", field=HEADER)
    return key


def run_once(key: str, scope: Scope, body: dict[str, Any], act: Callable[[], dict[str, Any]]) -> Answer:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    payload = {"principal": scope.principal, "route": scope.route, "resource": scope.resource,
               "idempotencyKey": checked_key(key), "body": body}
    ran: dict[str, Any] = {}

    def act_once() -> dict[str, Any]:
        try:
            result = act()
        except Exception as error:
            ran["error"] = error
            raise
        ran["result"] = result
        return result

    try:
        return Answer(_idempotent(act_once)(payload=payload))
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used with a different body for this request. Use a new key for a "
            "different request.") from None
    except IdempotencyAlreadyInProgressError:
        raise RequestInProgress(
            f"A request with this {HEADER} is still in progress; retry in a few seconds to get its answer.",
            retryAfterSeconds=5) from None
    except IdempotencyPersistenceLayerError:
        return _after_store_failure(ran)


def _after_store_failure(ran: dict[str, Any]) -> Answer:
    """The idempotency store failed. If the request already ran, its outcome stands: answer it."""
    if "result" in ran:
        return Answer(ran["result"], warning=UNSAVED_WARNING)
    if "error" in ran:
        raise ran["error"]
    raise AuditUnavailable("The idempotency store could not be reached; nothing was changed. Retry shortly.")


def _idempotent(act: Callable[[], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    persistence = wiring.current().idempotency_persistence

    def act_once(payload: dict[str, Any]) -> dict[str, Any]:
        return act()

    # Powertools' decorator is typed `-> Any`; it returns the function, made idempotent.
    once: Callable[..., dict[str, Any]] = idempotent_function(act_once, data_keyword_argument="payload",
                                                             persistence_store=persistence,
                                                             config=_idempotency_config())
    return once
