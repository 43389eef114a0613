"""Exit codes of `mturk-decisions` and the errors that carry them.

Scripts can rely on these exit codes:

    0  success (for `apply` / `reverse-hit` / `batch --watch`: every item succeeded or was skipped)
    1  aborted by the user at the confirmation (nothing was changed), or a batch finished with
       items that failed or were refused
    2  usage error: a bad option or argument (click's own code; nothing was sent)
    3  refused by a pre-check of the API: 400, 402, 404, 409, 413 or 422 (bad feedback or request,
       insufficient funds, unknown assignment, wrong state, reversal window closed, HIT disposed, ...)
    4  authentication or authorization failed: 401 / 403 (credentials, region, API URL, IAM policy)
    5  MTurk throttled or unavailable, or a server error: 429 and 5xx (retry later)
    6  network or configuration: no API URL, no AWS credentials, unreachable API, timeout
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol


class ExitCode(IntEnum):
    OK = 0
    ABORTED_OR_FAILURES = 1
    USAGE = 2
    REFUSED = 3
    AUTH = 4
    UNAVAILABLE = 5
    NETWORK_OR_CONFIG = 6


EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  aborted at the confirmation (nothing was changed), or a batch
     finished with failed or refused items
  2  usage error (bad option or argument)
  3  refused by a pre-check (HTTP 400/402/404/409/413/422)
  4  authentication/authorization (HTTP 401/403)
  5  MTurk throttled or unavailable, server error (HTTP 429/5xx)
  6  network or configuration (no API URL, no AWS credentials,
     unreachable API, timeout)"""


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code for an HTTP error status of the API."""
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 429 or status >= 500:
        return ExitCode.UNAVAILABLE
    if 400 <= status < 500:
        return ExitCode.REFUSED
    return ExitCode.OK


class CliError(Exception):
    """An error the CLI reports and exits with; `hint` says what to do about it."""

    exit_code: ExitCode = ExitCode.NETWORK_OR_CONFIG

    def __init__(self, message: str, *, hint: str | None = None, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(CliError):
    """Missing or invalid configuration: API URL, credentials, profile, config file."""

    exit_code = ExitCode.NETWORK_OR_CONFIG


class TransportError(CliError):
    """The API could not be reached, or did not answer in time."""

    exit_code = ExitCode.NETWORK_OR_CONFIG


class Aborted(CliError):
    exit_code = ExitCode.ABORTED_OR_FAILURES


class BatchFailures(CliError):
    """A batch completed but some of its items failed or were refused."""

    exit_code = ExitCode.ABORTED_OR_FAILURES


class ApiError(CliError):
    """The API answered with an error status. `body` is its JSON error (code, message, details)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None,
                 hint: str | None = None) -> None:
        self.status = status
        self.body = body if isinstance(body, dict) else {"message": str(body or "")}
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.code = error_code(status, self.body, self.headers)
        message = str(self.body.get("message") or self.body.get("Message") or _reason(status))
        super().__init__(message, hint=hint, exit_code=exit_code_for_status(status))

    @property
    def details(self) -> dict[str, Any]:
        """The error's details: everything but code, message, requestId and the errors list."""
        skip = {"code", "message", "Message", "requestId", "errors"}
        return {k: v for k, v in self.body.items() if k not in skip and v is not None}

    @property
    def request_id(self) -> str | None:
        return self.body.get("requestId") or self.headers.get("x-amzn-requestid")

    @property
    def retry_after(self) -> int | None:
        candidates: tuple[Any, ...] = (self.body.get("retryAfterSeconds"), self.headers.get("retry-after"))
        for value in candidates:
            try:
                return max(0, int(float(value)))
            except (TypeError, ValueError):
                continue
        return None


def error_code(status: int, body: dict[str, Any], headers: dict[str, str]) -> str:
    """The API's `code`; for errors API Gateway itself answers (no `code`), its error type or HTTP_<status>."""
    code = body.get("code") if isinstance(body, dict) else None
    if code:
        return str(code)
    error_type = headers.get("x-amzn-errortype")
    if error_type:
        name = error_type.split(":")[0].strip()
        known = {
            "MissingAuthenticationTokenException": "MISSING_AUTHENTICATION_TOKEN",
            "IncompleteSignatureException": "ACCESS_DENIED",
            "InvalidSignatureException": "ACCESS_DENIED",
            "UnrecognizedClientException": "ACCESS_DENIED",
            "AccessDeniedException": "ACCESS_DENIED",
            "ExpiredTokenException": "EXPIRED_TOKEN",
            "ThrottlingException": "API_THROTTLED",
            "TooManyRequestsException": "API_THROTTLED",
        }
        return known.get(name, name)
    return f"HTTP_{status}"


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


#: Refusals nothing can change: the same command gets the same answer however often it runs.
FINAL_CODES = frozenset({"REVERSAL_WINDOW_CLOSED", "HIT_DISPOSED"})
FINAL = "This is final: nothing can change it, and running the command again gets the same answer."
PAY_INSTEAD = ("To still pay the worker, send a bonus (the requester UI's Manage > Workers > Bonus, or "
               "MTurk's SendBonus) and tell them why.")


def final_refusal(code: str | None, details: dict[str, Any] | None = None, message: str | None = None) -> bool:
    """Whether a refusal is final: the reversal window has closed, the HIT is disposed, or the assignment is
    already Approved (an approval is final on MTurk). Other refusals can be fixed (funds, feedback, a wait)."""
    if code in FINAL_CODES:
        return True
    if code == "INVALID_ASSIGNMENT_STATE":
        return (details or {}).get("currentStatus") == "Approved" or "status is Approved" in (message or "")
    return False


class Refused(Protocol):
    """A refused item of a batch or of its plan (`models.BatchItem`)."""

    @property
    def code(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...
    @property
    def current_status(self) -> str | None: ...


def _refusal(item: Refused | Mapping[str, Any]) -> tuple[str | None, dict[str, Any], str | None]:
    """(code, details, message) of a refused item, typed or as the API's JSON."""
    if isinstance(item, Mapping):
        return item.get("code"), dict(item), item.get("message")
    return item.code, {"currentStatus": item.current_status}, item.message


def refusals_hint(items: Iterable[Refused | Mapping[str, Any]]) -> str:
    """What to do about the refused items of a batch (or its plan): which can be fixed and applied again,
    and which are final, with what to do instead."""
    refusals = [_refusal(item) for item in items]
    final: dict[str, int] = {}
    for code, details, message in refusals:
        if final_refusal(code, details, message):
            label = "already Approved" if code == "INVALID_ASSIGNMENT_STATE" else str(code)
            final[label] = final.get(label, 0) + 1
    fixable = len(refusals) - sum(final.values())
    named = ", ".join(f"{count} {label}" for label, count in sorted(final.items()))
    if not final:
        return "Fix the refused items listed above (see their codes) and run again."
    instead = PAY_INSTEAD if set(final) & FINAL_CODES else "The workers of already Approved assignments are paid."
    if not fixable:
        return (f"These refusals are final ({named}): nothing can change them, and running again gets the same "
                f"answer. {instead}")
    return (f"Fix the {fixable} other refused item(s) (see their codes) and apply them again; {named} are final: "
            f"nothing can change them. {instead}")


def _money(value: Any) -> str:
    return f"${value}" if value not in (None, "") else "?"


# -- hints: what to do about an API error, by its code ------------------------------------------------------
@dataclass(frozen=True)
class Situation:
    """What a hint may need: the error, its body's fields, and the command's Idempotency-Key."""

    error: ApiError
    details: dict[str, Any]
    idempotency_key: str | None


#: A hint that needs the error's fields.
HintFunction = Callable[[Situation], str]
_SHOW = "See `mturk-decisions show ID`."


def _part(s: Situation, key: str, template: str) -> str:
    """`template` filled with the error's `key` field, or "" when the error has none."""
    value = s.details.get(key)
    return template.format(value) if value else ""


def _feedback_hint(s: Situation) -> str:
    d = s.details
    rule = d.get("rule")
    if rule == "REQUIRED":
        return "Give the worker a reason with --feedback \"...\" (it is what the worker sees)."
    if rule == "MAX_LENGTH":
        return f"Shorten the feedback to at most 1024 characters (it has {d.get('length', 'more')})."
    if rule == "FORBIDDEN_CHARACTER":
        where = f" at position {d['position']}" if "position" in d else ""
        what = f"U+{int(d['codepoint']):04X}" if isinstance(d.get("codepoint"), int) else "a control character"
        return f"Remove the control character ({what}){where}: MTurk refuses ASCII control characters."
    return "Fix the feedback as the message says."


def _notification_hint(s: Situation) -> str:
    option = "--notify-subject" if str(s.details.get("field", "")).endswith("subject") else "--notify-message"
    limit = "200" if option == "--notify-subject" else "4,096"
    return f"Fix {option} (1-{limit} characters, no control characters): nothing was decided or sent."


def _invalid_batch_hint(s: Situation) -> str:
    return "Fix the listed lines and run again. Nothing was changed." if s.details.get("errors") else "Nothing was changed."


def _schedule_not_pending_hint(s: Situation) -> str:
    state = s.details.get("state", "no longer PENDING")
    if state == "RUNNING":
        return ("The sweep is reversing it right now: nothing you asked was applied. "
                "Check `mturk-decisions show ID` in a few seconds.")
    return f"Nothing was changed: the automatic reversal is {state}. {_SHOW}"


def _in_progress_hint(s: Situation) -> str:
    return (f"Another decision for this assignment{_part(s, 'holderDecisionId', ' ({})')} is running; nothing was sent to MTurk. "
            "Check `mturk-decisions show ID`, then retry if still needed.")


def _queue_unavailable_hint(s: Situation) -> str:
    batch = s.details.get("batchId")
    return (f"The batch {batch} is stored and will be queued automatically; follow it with "
            f"`mturk-decisions batch {batch}`. Do not submit it again." if batch else "Retry shortly.")


def _window_closing_hint(s: Situation) -> str:
    return (f"An automatic reversal must run well before the 30-day deadline{_part(s, 'deadline', ' ({})')}: choose an earlier "
            "time, or reverse now with `mturk-decisions reverse ID`.")


def _funds_hint(s: Situation) -> str:
    shortfall = s.details.get("shortfall")
    need = f"at least {_money(shortfall)} " if shortfall else ""
    return f"Add {need}prepaid funds at https://requester.mturk.com/account, then run again. Nothing was changed."


def _hit_not_found_hint(s: Situation) -> str:
    what = "HIT type" if s.details.get("hitTypeId") else "HIT"
    return (f"Check the {what} id. It must belong to the requester account whose MTurk keys the stack uses "
            "(and to the same MTurk environment: sandbox or production). Nothing was changed.")


def _assignment_state_hint(s: Situation) -> str:
    if final_refusal("INVALID_ASSIGNMENT_STATE", s.details, s.error.message):
        return (f"{FINAL} The assignment is already Approved, and an approval is final on MTurk: it can be neither "
                "rejected nor reversed. Nothing was changed. The worker keeps the payment; to keep such work out of "
                "your future HITs, use a qualification (or block the worker) in the MTurk requester UI.")
    current, required = s.details.get("currentStatus"), s.details.get("requiredStatus")
    needs = f"; this action needs {required}" if required else ""
    return f"The assignment is {current or 'in another state'}{needs}. See its state and history with `mturk-decisions show ID`."


def _window_closed_hint(s: Situation) -> str:
    return (f"{FINAL} MTurk no longer allows reversing this rejection: the 30-day window after submission has "
            f"closed{_part(s, 'deadline', ' (the deadline was {})')}. Nothing was changed. {PAY_INSTEAD}")


def _request_in_progress_hint(s: Situation) -> str:
    again = f" with --idempotency-key {s.idempotency_key}" if s.idempotency_key else ""
    return f"The same request is still being processed: run the same command again{again} in a few seconds to get its answer."


def _throttled_hint(s: Situation) -> str:
    after = s.error.retry_after
    return f"MTurk is throttling this account: retry after {after if after is not None else 'a few'} s."


def _mturk_fault_hint(s: Situation) -> str:
    safe = f" Re-running with --idempotency-key {s.idempotency_key} is safe." if s.idempotency_key else ""
    return (f"MTurk kept failing after retries; `mturk-decisions show ID` shows whether the decision was applied "
            f"(its audit record says SUCCEEDED, FAILED, or PENDING until the reconciler settles it). Retry later.{safe}")


#: What to do, by the error's code: a sentence, or a function of the error's fields.
HINTS: dict[str, str | HintFunction] = {
    # a request to fix: its feedback, body, file, cursor or ids
    "INVALID_FEEDBACK": _feedback_hint,
    "INVALID_NOTIFICATION": _notification_hint,
    "INVALID_REQUEST": "Fix the request as listed above; nothing was changed.",
    "INVALID_BATCH": _invalid_batch_hint,
    "SCHEDULE_NOT_FOUND": f"There is no pending automatic reversal for this assignment. {_SHOW}",
    "SCHEDULE_NOT_PENDING": _schedule_not_pending_hint,
    "DECISION_IN_PROGRESS": _in_progress_hint,
    "REVERSAL_ALREADY_SCHEDULED": ("An automatic reversal of this assignment is already waiting: confirm it or cancel "
                                   "it (`mturk-decisions cancel-reversal ID`) first."),
    "QUEUE_UNAVAILABLE": _queue_unavailable_hint,
    "REVERSAL_WINDOW_CLOSING": _window_closing_hint,
    "NOT_CONFIGURED": "This stack is deployed without that feature configured: an operator must enable it.",
    "BATCH_NOT_FOUND": "Check the batch id: it is the batchId printed when the batch was submitted (32 hex characters).",
    "MALFORMED_JSON": "The CLI sent a body the API could not parse: please report this as a bug.",
    "INVALID_CURSOR": "Run the query again without --cursor (a cursor only works with the query that returned it).",
    # a pre-check's refusal: what can be fixed, and what is final (`FINAL`)
    "INSUFFICIENT_FUNDS": _funds_hint,
    "ASSIGNMENT_NOT_FOUND": ("Check the assignment id. It must belong to the requester account whose MTurk keys the "
                             "stack uses (and to the same MTurk environment: sandbox or production)."),
    "HIT_NOT_FOUND": _hit_not_found_hint,
    "NOT_FOUND": ("The API has no such route: check --api-url (it ends with the stage, e.g. .../v1), "
                  "or the deployed stack is older than this CLI (deploy the current version)."),
    "INVALID_ASSIGNMENT_STATE": _assignment_state_hint,
    "REVERSAL_WINDOW_CLOSED": _window_closed_hint,
    "HIT_DISPOSED": (f"{FINAL} MTurk no longer allows changes to assignments of a disposed HIT. Nothing was changed. "
                     f"{PAY_INSTEAD}"),
    "REQUEST_IN_PROGRESS": _request_in_progress_hint,
    # the service, MTurk, the credentials or the gateway
    "IDEMPOTENCY_KEY_REUSED": ("This --idempotency-key was used for a different request: use a new key (or omit it; "
                               "the CLI makes one)."),
    "MTURK_REQUEST_REJECTED": ("MTurk refused the call for the reason in its message. Check the assignment in the MTurk "
                               "requester UI."),
    "MTURK_THROTTLED": _throttled_hint,
    "API_THROTTLED": _throttled_hint,
    "MTURK_FAULT": _mturk_fault_hint,
    "MTURK_CREDENTIALS_INVALID": ("The stack's MTurk keys in Secrets Manager are missing, malformed or refused by "
                                  "MTurk: an operator must put valid keys in the secret (stack output MTurkSecretArn)."),
    "AUDIT_UNAVAILABLE": ("Nothing was sent to MTurk. Retry shortly; if it persists, an operator should check the "
                          "DynamoDB tables."),
    "PAYLOAD_TOO_LARGE": "Split the file into parts under 10 MB and apply them one by one.",
    "MISSING_AUTHENTICATION_TOKEN": ("The request was not signed, or its path does not exist (API Gateway answers 403 "
                                     "for both). Check --api-url (it must include the stage, e.g. .../v1) and your AWS "
                                     "credentials."),
    "EXPIRED_TOKEN": "Your AWS session has expired: refresh it (e.g. `aws sso login --profile NAME`) and run again.",
}


def hint_for(error: ApiError, *, idempotency_key: str | None = None, command: str | None = None) -> str:
    """What to do about an API error: by its code (`HINTS`), else by its HTTP status."""
    situation = Situation(error, error.body, idempotency_key)
    hint = HINTS.get(error.code)
    if hint is not None:
        return hint if isinstance(hint, str) else hint(situation)
    return _status_hint(situation)


def _status_hint(s: Situation) -> str:
    """An error whose code has no hint of its own: by status (credentials, the gateway, the server)."""
    error = s.error
    if error.status in (401, 403):
        message = (error.message or "").lower()
        if "signature expired" in message or "not yet current" in message:
            return "Your computer's clock is off by more than 15 minutes: fix the clock and run again."
        return ("Check your AWS credentials (--profile / AWS_PROFILE), the region (--region: it must be the API's "
                "region), and --api-url. Your IAM principal needs execute-api:Invoke on this API.")
    if error.status in (502, 503, 504) or error.code in ("INTERNAL_ERROR", "BAD_GATEWAY"):
        rid = f" (requestId {error.request_id})" if error.request_id else ""
        if s.idempotency_key:
            return (f"The API failed{rid}; the decision may or may not have been applied. Re-run the same command "
                    f"with --idempotency-key {s.idempotency_key}: it is safe and returns the outcome.")
        return f"The API failed{rid}. Retry later; if it persists, give the requestId to an operator."
    if error.status >= 500:
        return "A server error: retry later; if it persists, give the requestId to an operator."
    return "The API refused the request; nothing was changed."
