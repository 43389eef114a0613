"""MTurk behind the MTurkGateway port: boto3 calls, our own retries, MTurk errors as domain errors.

botocore's retries are switched off so that every attempt is counted and paced here: botocore does not
retry a throttle that MTurk reports as a RequestError, and a write retried after an ambiguous failure
must be reconciled by the service, not blindly repeated.
"""
from __future__ import annotations

import functools
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore import xform_name
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    DecisionError,
    HitDisposed,
    HitNotFound,
    InsufficientFunds,
    InvalidFeedback,
    MTurkCredentialsInvalid,
    MTurkFault,
    MTurkRequestRejected,
    MTurkThrottled,
    ReversalWindowClosed,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import AssignmentView
from mturk_decisions.domain.notice import NotifyFailure

if TYPE_CHECKING:
    from mturk_decisions.adapters.pacing import Pacer

ENDPOINTS = {
    "sandbox": "https://mturk-requester-sandbox.us-east-1.amazonaws.com",
    "production": "https://mturk-requester.us-east-1.amazonaws.com",
}
MTURK_REGION = "us-east-1"

#: The writes whose outcome may be ambiguous after a fault (see `_call`).
WRITE_OPERATIONS = frozenset({"RejectAssignment", "ApproveAssignment"})
_THROTTLE_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
_FAULT_CODES = {"ServiceFault", "ServiceUnavailable", "InternalFailure", "InternalServerError"}
_AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "AccessDeniedException",
    "MissingAuthenticationTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
_RATE_TEXT = re.compile(r"rate exceeded|exceeded the maximum allowed request rate|throttl", re.IGNORECASE)
_MTURK_SUFFIX = re.compile(r"\s*\(\d{10,}\)\s*$")


def resolve_endpoint(setting: str) -> str:
    """`sandbox` (default), `production`, or an explicit URL such as the local simulator's."""
    choice = (setting or "sandbox").strip()
    if choice.lower() in ENDPOINTS:
        return ENDPOINTS[choice.lower()]
    if choice.startswith(("http://", "https://")):
        return choice.rstrip("/")
    raise ValueError(f"MTURK_ENDPOINT must be 'sandbox', 'production' or an http(s) URL, not {choice!r}")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter (attempt counts from 1)."""
        return rng.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))


class _Retryable(Exception):
    def __init__(self, kind: str, error: Exception) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


#: How long a read made ahead may answer the request that asked for it: a cold request's own start-up takes well
#: under a second; a read older than this is made again.
READ_AHEAD_SECONDS = 5.0


class _ReadAhead:
    """One MTurk read made in a background thread, answered once (None: it failed, the real call is made)."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self.started = time.monotonic()
        self._read, self._done = read, threading.Event()
        self._answer: dict[str, Any] | None = None
        threading.Thread(target=self._run, name="mturk-read-ahead", daemon=True).start()

    def _run(self) -> None:
        try:
            self._answer = self._read()
        except Exception:  # any failure is met again, and answered, by the real call
            self._answer = None
        finally:
            self._done.set()

    def answer(self) -> dict[str, Any] | None:
        if time.monotonic() - self.started > READ_AHEAD_SECONDS:
            return None
        self._done.wait()
        return self._answer


class Boto3MTurkGateway:
    def __init__(
        self,
        client_provider: Callable[[], Any],
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str, str, int], None] | None = None,
        rng: random.Random | None = None,
        pacer: Pacer | None = None,
        while_calls_wait: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._pacer = pacer
        #: Each started in the background as one of the first MTurk requests goes out (after the secret was read
        #: and the client made), in order: a cold environment makes its other clients while it waits for MTurk.
        self._while_calls_wait = list(while_calls_wait)
        self._client_provider = client_provider
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._on_retry = on_retry or (lambda operation, kind, attempt: None)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._reads_ahead: dict[tuple[str, str], _ReadAhead] = {}

    def get_assignment(self, assignment_id: str) -> AssignmentView:
        response = self._read("GetAssignment", AssignmentId=assignment_id)
        return assignment_view(response["Assignment"], response.get("HIT", {}))

    def get_balance(self) -> Decimal:
        return Decimal(self._read("GetAccountBalance")["AvailableBalance"])

    def read_ahead(self, assignment_id: str, balance: bool = False) -> None:
        """Start reading `assignment_id` (and the balance) in the background, for the next `get_assignment` of it
        (`get_balance`) within READ_AHEAD_SECONDS: a cold environment's first decision waits for MTurk while it
        builds its routes and validation models, instead of after. The secret is read and the client made here,
        first: that is CPU, which the background thread would only take turns at with the caller's. A read ahead
        is made once, without retries; whatever fails is left to the real call, which retries as always. Not
        for writes: a write is made once, by the decision that owns it."""
        try:
            self._client_provider()
        except Exception:  # the decision's own first call meets the same failure and answers it
            return
        reads = [("GetAssignment", {"AssignmentId": assignment_id})] + ([("GetAccountBalance", {})] if balance else [])
        with self._lock:
            for operation, params in reads:
                self._reads_ahead[_read_key(operation, params)] = _ReadAhead(functools.partial(
                    self._invoke, operation, params))

    def drop_reads_ahead(self) -> None:
        """Forget reads made ahead and not used (the end of the request that asked for them)."""
        with self._lock:
            self._reads_ahead.clear()

    def _read(self, operation: str, **params: Any) -> dict[str, Any]:
        with self._lock:
            ahead = self._reads_ahead.pop(_read_key(operation, params), None)
        answer = ahead.answer() if ahead is not None else None
        return answer if answer is not None else self._call(operation, **params)

    def reject(self, assignment_id: str, feedback: str) -> None:
        self._call("RejectAssignment", AssignmentId=assignment_id, RequesterFeedback=feedback)

    def approve(self, assignment_id: str, feedback: str | None, override_rejection: bool) -> None:
        params: dict[str, Any] = {"AssignmentId": assignment_id, "OverrideRejection": override_rejection}
        if feedback:
            params["RequesterFeedback"] = feedback
        self._call("ApproveAssignment", **params)

    def update_notification_settings(self, hit_type_id: str, destination: str, event_types: list[str],
                                     active: bool = True) -> None:
        self._call("UpdateNotificationSettings", HITTypeId=hit_type_id, Active=active, Notification={
            "Destination": destination, "Transport": "SQS", "Version": "2014-08-15", "EventTypes": event_types,
        })

    def notify_workers(self, subject: str, message: str, worker_ids: list[str]) -> list[NotifyFailure]:
        """NotifyWorkers for at most 100 workers, with the same retries as every call. A worker MTurk could not
        notify is in its answer (NotifyWorkersFailureStatuses), not an error."""
        answer = self._call("NotifyWorkers", Subject=subject, MessageText=message, WorkerIds=list(worker_ids))
        return [NotifyFailure(status.get("WorkerId", ""), status.get("NotifyWorkersFailureCode", "HardFailure"),
                              _MTURK_SUFFIX.sub("", status.get("NotifyWorkersFailureMessage", "") or ""))
                for status in answer.get("NotifyWorkersFailureStatuses") or []]

    def get_hit(self, hit_id: str) -> dict[str, Any]:
        hit: dict[str, Any] = self._call("GetHIT", HITId=hit_id)["HIT"]
        return hit

    def list_assignments_for_hit(self, hit_id: str, statuses: list[str] | None = None) -> Iterator[AssignmentView]:
        """Page through a HIT's assignments 100 at a time; one GetHIT for the HIT facts."""
        hit = self.get_hit(hit_id)
        params: dict[str, Any] = {"HITId": hit_id, "MaxResults": 100}
        if statuses:
            params["AssignmentStatuses"] = statuses
        while True:
            page = self._call("ListAssignmentsForHIT", **params)
            for assignment in page.get("Assignments", []):
                yield assignment_view(assignment, hit)
            token = page.get("NextToken")
            if not token or not page.get("Assignments"):
                return
            params["NextToken"] = token

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call with retries. A write's final error says whether an earlier attempt may have landed
        (`possibly_applied`): after a fault or a lost answer MTurk may have applied it, and a retry then
        reads as "wrong state". Only the service, with evidence, can tell which."""
        attempt, maybe_landed = 0, False
        while True:
            attempt += 1
            try:
                return self._invoke(operation, params)
            except _Retryable as retryable:
                maybe_landed = maybe_landed or retryable.kind in ("fault", "no-answer")
                if attempt >= self._retry.max_attempts:
                    raise _marked(_exhausted(operation, retryable, attempt), operation, maybe_landed,
                                  answered=retryable.kind != "no-answer") from None
                self._on_retry(operation, retryable.kind, attempt)
                self._sleep(self._retry.delay(attempt, self._rng))
            except DecisionError as refused:
                raise _marked(refused, operation, maybe_landed, answered=True) from None

    def _invoke(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        client = self._client_provider()
        method = getattr(client, xform_name(operation))
        if self._while_calls_wait:
            with self._lock:
                warm = self._while_calls_wait.pop(0) if self._while_calls_wait else None
            if warm is not None:
                threading.Thread(target=warm, name="warm-while-mturk-answers", daemon=True).start()
        if self._pacer:
            self._pacer.acquire()
        began = time.monotonic()
        try:
            answer: dict[str, Any] = method(**params)
            if self._pacer:
                self._pacer.latency.observe(time.monotonic() - began)
                self._pacer.on_success()
            return answer
        except ClientError as error:
            if self._pacer:
                self._pacer.latency.observe(time.monotonic() - began)
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "") or ""
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _THROTTLE_CODES or status == 429 or (code == "RequestError" and _RATE_TEXT.search(message)):
                if self._pacer:
                    self._pacer.on_throttle()
                raise _Retryable("throttle", error) from None
            if code in _FAULT_CODES or status >= 500:
                raise _Retryable("fault", error) from None
            raise translate_request_error(operation, code, message, params) from None
        except EndpointConnectionError as error:
            raise _Retryable("unreachable", error) from None  # never sent: it cannot have landed
        except (BotoConnectionError, HTTPClientError) as error:
            raise _Retryable("no-answer", error) from None  # sent, answer lost (read timeout, reset)
        except BotoCoreError as error:
            raise MTurkFault(f"Could not call MTurk {operation}: {type(error).__name__}.") from None


def _read_key(operation: str, params: dict[str, Any]) -> tuple[str, str]:
    return operation, repr(sorted(params.items()))


def _marked(error: DecisionError, operation: str, maybe_landed: bool, answered: bool) -> DecisionError:
    if operation in WRITE_OPERATIONS:
        error.possibly_applied, error.last_attempt_answered = maybe_landed, answered
    return error


def _exhausted(operation: str, retryable: _Retryable, attempts: int) -> DecisionError:
    if retryable.kind == "throttle":
        return MTurkThrottled(
            f"MTurk throttled {operation} {attempts} times in a row; nothing was changed by this call. "
            "Retry after the indicated delay, or slow down bulk work.",
            retry_after=2,
        )
    return MTurkFault(
        f"MTurk failed {operation} {attempts} times in a row ({_error_code(retryable.error)}). "
        "Check the MTurk status and retry; the decision's audit record says whether anything was applied.",
    )


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "error"))
    return type(error).__name__


def translate_request_error(operation: str, code: str, message: str, params: dict[str, Any]) -> DecisionError:
    """Turn MTurk's RequestError texts into the domain's errors. Never echo credentials: MTurk's texts hold none."""
    text = _MTURK_SUFFIX.sub("", message)
    lowered = text.lower()
    if code in _AUTH_CODES:
        return MTurkCredentialsInvalid(
            "MTurk refused the configured credentials. Put valid MTurk requester keys in the secret "
            "(docs/deploy.md, step 4 'Put the MTurk keys') and retry.",
        )
    if "does not exist" in lowered:
        return _not_found(params, text, code)
    if "can be called with a status of" in lowered:
        return WrongAssignmentState(f"MTurk refused {operation}: {text}", mturkMessage=text)
    if "insufficient funds" in lowered:
        return InsufficientFunds(
            "MTurk reports insufficient funds for this approval. Add funds at https://requester.mturk.com/account "
            "and retry.",
            mturkMessage=text,
        )
    if "30 days" in lowered:
        return ReversalWindowClosed(f"MTurk refused the reversal: {text}", mturkMessage=text)
    if "disposed" in lowered:
        return HitDisposed(f"MTurk refused the reversal: {text}", mturkMessage=text)
    if "requesterfeedback" in lowered.replace(" ", "") or "feedback" in lowered:
        return InvalidFeedback(f"MTurk refused the feedback: {text}", rule="MTURK", mturkMessage=text)
    return MTurkRequestRejected(f"MTurk refused {operation}: {text}", mturkErrorCode=code)


def _not_found(params: dict[str, Any], text: str, code: str) -> DecisionError:
    """MTurk's "... does not exist", as the missing thing: an assignment, a HIT or a HIT type."""
    where = "Check the id, and that the service points at the right MTurk (sandbox or production)."
    if params.get("AssignmentId"):
        assignment_id = params["AssignmentId"]
        return AssignmentNotFound(f"MTurk has no assignment {assignment_id} for this requester. {where}",
                                  assignmentId=assignment_id)
    if params.get("HITId"):
        return HitNotFound(f"MTurk has no HIT {params['HITId']} for this requester. {where}", hitId=params["HITId"])
    if params.get("HITTypeId"):
        return HitNotFound(f"MTurk has no HIT type {params['HITTypeId']} for this requester. {where}",
                           hitTypeId=params["HITTypeId"])
    return MTurkRequestRejected(f"MTurk: {text}", mturkErrorCode=code)


def assignment_view(assignment: dict[str, Any], hit: dict[str, Any]) -> AssignmentView:
    return AssignmentView(
        assignment_id=assignment["AssignmentId"],
        hit_id=assignment.get("HITId") or hit.get("HITId", ""),
        worker_id=assignment.get("WorkerId", ""),
        status=assignment.get("AssignmentStatus", ""),
        submitted_at=_utc(assignment.get("SubmitTime")),
        approved_at=_utc(assignment.get("ApprovalTime")),
        rejected_at=_utc(assignment.get("RejectionTime")),
        requester_feedback=assignment.get("RequesterFeedback"),
        reward=Decimal(str(hit.get("Reward", "0"))),
        max_assignments=int(hit.get("MaxAssignments", 1)),
        hit_status=hit.get("HITStatus", ""),
        hit_type_id=hit.get("HITTypeId"),
        hit_title=hit.get("Title"),
    )


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
