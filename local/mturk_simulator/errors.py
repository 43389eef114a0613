"""Errors answered on the wire, shaped like the real MTurk/AWS JSON errors."""

from __future__ import annotations

INVALID_ASSIGNMENT_STATE = "AWS.MechanicalTurk.InvalidAssignmentState"
ASSIGNMENT_DOES_NOT_EXIST = "AWS.MechanicalTurk.AssignmentDoesNotExist"
HIT_DOES_NOT_EXIST = "AWS.MechanicalTurk.HITDoesNotExist"
HIT_TYPE_DOES_NOT_EXIST = "AWS.MechanicalTurk.HITTypeDoesNotExist"
INVALID_PARAMETER_VALUE = "AWS.MechanicalTurk.InvalidParameterValue"
INSUFFICIENT_FUNDS = "AWS.MechanicalTurk.InsufficientFunds"
UNSUPPORTED_OPERATION = "AWS.MechanicalTurk.UnsupportedOperation"


class ApiError(Exception):
    """An error response: HTTP status, ``__type`` code, message and optional TurkErrorCode."""

    def __init__(self, status: int, code: str, message: str, turk_code: str | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.turk_code = turk_code
        self.applied = False

    def body(self) -> dict[str, str]:
        body = {"__type": self.code, "Message": self.message}
        if self.turk_code:
            body["TurkErrorCode"] = self.turk_code
        return body


def request_error(message: str, turk_code: str) -> ApiError:
    return ApiError(400, "RequestError", message, turk_code)


def service_fault(message: str = "We encountered an unexpected error while processing your request. Please try again.") -> ApiError:
    return ApiError(500, "ServiceFault", message)


def throttled() -> ApiError:
    return ApiError(400, "ThrottlingException", "Rate exceeded")


def validation_error(violations: list[str]) -> ApiError:
    noun = "error" if len(violations) == 1 else "errors"
    return ApiError(400, "ValidationException", f"{len(violations)} validation {noun} detected: " + "; ".join(violations))


def serialization_error(message: str) -> ApiError:
    return ApiError(400, "SerializationException", message)


def unknown_operation(target: str | None) -> ApiError:
    message = f"Unknown operation: X-Amz-Target {target!r} is not an MTurk Requester API operation."
    return ApiError(400, "UnknownOperationException", message)
