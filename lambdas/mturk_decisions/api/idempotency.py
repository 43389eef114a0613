"""`Idempotency-Key`: a retried request returns the first answer and never calls MTurk twice.

Powertools idempotency on DynamoDB, keyed by (key, action, assignment). Reusing a key with a different
body is refused. Failed decisions are not stored, so a retry after a failure tries again.
"""
from __future__ import annotations

from typing import Any, Callable

from mturk_decisions import wiring
from mturk_decisions.domain.errors import AuditUnavailable, IdempotencyKeyReused, InvalidRequest, RequestInProgress
from mturk_decisions.domain.model import DecisionRequest

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 256
_config: Any = None


def _idempotency_config():
    global _config
    if _config is None:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

        _config = IdempotencyConfig(
            event_key_jmespath="[idempotencyKey, action, assignmentId]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=wiring.current().settings.idempotency_expiry_seconds,
        )
    return _config


def register(context: Any) -> None:
    """Give Powertools the Lambda context (remaining time) before any idempotent call."""
    _idempotency_config().register_lambda_context(context)


def run_once(key: str, request: DecisionRequest, decide: Callable[[], dict], extra: dict | None = None) -> dict:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"{HEADER} must be at most {MAX_KEY_LENGTH} characters.", field=HEADER)
    payload = {
        "idempotencyKey": key,
        "action": request.action.value,
        "assignmentId": request.assignment_id,
        "body": {"feedback": request.feedback, "reason": request.reason, **(extra or {})},
    }
    try:
        return _idempotent(decide)(payload=payload)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used with a different body for this assignment and action. "
            "Use a new key for a different request.",
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise RequestInProgress(
            f"A request with this {HEADER} is still in progress; retry in a few seconds to get its answer.",
        ) from None
    except IdempotencyPersistenceLayerError:
        raise AuditUnavailable("The idempotency store could not be reached; nothing was changed. Retry shortly.") from None



def _idempotent(decide: Callable[[], dict]) -> Callable[..., dict]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function

    persistence = wiring.current().idempotency_persistence

    @idempotent_function(data_keyword_argument="payload", persistence_store=persistence,
                         config=_idempotency_config())
    def decide_once(payload: dict) -> dict:
        return decide()

    return decide_once
