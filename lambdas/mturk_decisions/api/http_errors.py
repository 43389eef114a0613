"""The HTTP status of every domain error, by its code: the one place a domain error meets HTTP.

The domain says what went wrong (`code`, `message`, details) and whether it is worth retrying (`retryable`);
the API decides how that is answered. Every `DecisionError` subclass has its code here
(tests/unit/test_http_errors.py); the routes, the body guard, the handler and the OpenAPI document all ask
`http_status`.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mturk_decisions.domain.errors import DecisionError

STATUS_BY_CODE: Mapping[str, int] = MappingProxyType({
    "DECISION_ERROR": 400,
    "INVALID_REQUEST": 400,
    "MALFORMED_JSON": 400,
    "INVALID_FEEDBACK": 400,
    "INVALID_CURSOR": 400,
    "INVALID_NOTIFICATION": 400,
    "INVALID_BATCH": 400,
    "INSUFFICIENT_FUNDS": 402,
    "ASSIGNMENT_NOT_FOUND": 404,
    "HIT_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "SCHEDULE_NOT_FOUND": 404,
    "BATCH_NOT_FOUND": 404,
    "INVALID_ASSIGNMENT_STATE": 409,
    "REVERSAL_WINDOW_CLOSED": 409,
    "HIT_DISPOSED": 409,
    "REQUEST_IN_PROGRESS": 409,
    "DECISION_IN_PROGRESS": 409,
    "SCHEDULE_NOT_PENDING": 409,
    "REVERSAL_ALREADY_SCHEDULED": 409,
    "REVERSAL_WINDOW_CLOSING": 409,
    "BATCH_NOT_READY": 409,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "MTURK_REQUEST_REJECTED": 422,
    "MTURK_THROTTLED": 429,
    "MTURK_FAULT": 502,
    "MTURK_CREDENTIALS_INVALID": 502,
    "AUDIT_UNAVAILABLE": 503,
    "QUEUE_UNAVAILABLE": 503,
    "NOT_CONFIGURED": 503,
})


def http_status(error: DecisionError | type[DecisionError]) -> int:
    """The HTTP status a domain error (an instance or its class) is answered with."""
    return STATUS_BY_CODE[error.code]
