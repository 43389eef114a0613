"""The simulator facade: state, seeding, test knobs and the protocol-free ``invoke``."""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from . import errors, faults, rules
from .calllog import CallLog, CallRecord
from .clock import Clock
from .errors import ApiError
from .faults import FaultInjector
from .model import (
    ASSIGNMENT_STATUSES,
    DEFAULT_ANSWER,
    HIT,
    HIT_STATUSES,
    Assignment,
    Requester,
    make_assignment,
    money,
    new_id,
    new_worker_id,
)
from .notifications import NotificationRecord, Notifier, Outgoing
from .operations import HANDLERS, Call, State, WorkerMessage, approve_assignment, reject_assignment
from .throttle import Throttle
from .validation import service_model, validate_input

WRITE_OPERATIONS = faults.WRITE_OPERATIONS
WEBSITE_PREFIX = "Website."


class MTurkSimulator:
    """In-memory MTurk Requester API for many requesters, each identified by an access key.

    All state sits behind one lock; the HTTP server calls ``invoke`` from many threads.
    """

    def __init__(self, clock: Clock | None = None, sqs_endpoint_url: str | None = None) -> None:
        self.clock = clock or Clock()
        self._lock = threading.RLock()
        self._state = State(requesters={}, hits={}, assignments={})
        self.throttle = Throttle()
        self.faults = FaultInjector()
        self.latency = 0.0
        self.call_log = CallLog()
        self.notifier = Notifier(sqs_endpoint_url)

    # ----- seeding -----

    def add_requester(self, access_key_id: str, secret_access_key: str, balance: str | Decimal = "100.00",
                      name: str | None = None, account_id: str | None = None, customer_id: str | None = None) -> str:
        """``account_id`` (12 digits) and ``customer_id`` appear in notifications as ``SourceAccount`` and
        ``CustomerId``; by default both are derived from the access key, so they are stable."""
        if account_id is not None and not (len(account_id) == 12 and account_id.isdigit()):
            raise ValueError("account_id must be 12 digits")
        with self._lock:
            if access_key_id in self._state.requesters:
                raise ValueError(f"requester {access_key_id} already exists")
            self._state.requesters[access_key_id] = Requester(
                access_key_id, secret_access_key, name or f"Requester {access_key_id}", money(balance),
                account_id=account_id or "", customer_id=customer_id or "")
        return access_key_id

    def requester_info(self, access_key_id: str) -> dict[str, str]:
        """``{"accessKeyId", "name", "balance", "accountId", "customerId"}`` of one requester."""
        with self._lock:
            return _requester_json(self._requester(access_key_id))

    def add_hit_type(self, access_key_id: str, hit_type_id: str | None = None) -> str:
        """Register a HIT type for a requester, so notifications can be set up before it has HITs.

        (A HIT type used by one of the requester's HITs is known without this.)
        """
        with self._lock:
            self._requester(access_key_id)
            hit_type_id = hit_type_id or new_id()
            self._state.hit_types.setdefault(access_key_id, set()).add(hit_type_id)
        return hit_type_id

    def add_hit(self, access_key_id: str, reward: str | Decimal = "0.50", max_assignments: int = 3,
                status: str = "Assignable", title: str | None = None, created_at: datetime | None = None,
                hit_id: str | None = None, hit_type_id: str | None = None, description: str | None = None,
                lifetime_seconds: int = 7 * 24 * 3600, auto_approval_delay_seconds: int = 3 * 24 * 3600) -> str:
        if status not in HIT_STATUSES:
            raise ValueError(f"status must be one of {HIT_STATUSES}")
        if max_assignments < 1:
            raise ValueError("max_assignments must be at least 1")
        with self._lock:
            self._requester(access_key_id)
            hit_id = hit_id or new_id()
            if hit_id in self._state.hits:
                raise ValueError(f"HIT {hit_id} already exists")
            created = created_at or self.clock.now()
            self._state.hits[hit_id] = HIT(
                hit_id=hit_id, hit_type_id=hit_type_id or new_id(), owner=access_key_id,
                title=title or f"Simulated HIT {hit_id[:8]}", description=description or "A simulated HIT.",
                reward=money(reward), max_assignments=max_assignments, status=status, creation_time=created,
                expiration=created + timedelta(seconds=lifetime_seconds),
                auto_approval_delay=auto_approval_delay_seconds)
        return hit_id

    def add_assignment(self, hit_id: str, worker_id: str | None = None, status: str = "Submitted",
                       submitted_at: datetime | None = None, feedback: str | None = None,
                       assignment_id: str | None = None, answer: str | None = None) -> str:
        """Add a submitted (or already reviewed) assignment.

        A HIT that is ``Assignable`` becomes ``Reviewable`` once all its assignments are in,
        as on MTurk.
        """
        if status not in ASSIGNMENT_STATUSES:
            raise ValueError(f"status must be one of {ASSIGNMENT_STATUSES}")
        with self._lock:
            hit = self._hit(hit_id)
            if len(hit.assignments) >= hit.max_assignments:
                raise ValueError(f"HIT {hit_id} already has its {hit.max_assignments} assignments")
            assignment_id = assignment_id or new_id()
            if assignment_id in self._state.assignments:
                raise ValueError(f"assignment {assignment_id} already exists")
            assignment = make_assignment(hit, worker_id or new_worker_id(), status, submitted_at or self.clock.now(),
                                         answer or DEFAULT_ANSWER, feedback, assignment_id)
            hit.assignments.append(assignment)
            self._state.assignments[assignment_id] = assignment
            if hit.status == "Assignable" and len(hit.assignments) == hit.max_assignments:
                hit.status = "Reviewable"
        return assignment_id

    def set_hit_status(self, hit_id: str, status: str) -> None:
        if status not in HIT_STATUSES:
            raise ValueError(f"status must be one of {HIT_STATUSES}")
        with self._lock:
            self._hit(hit_id).status = status

    def set_balance(self, access_key_id: str, balance: str | Decimal) -> None:
        with self._lock:
            self._requester(access_key_id).balance = money(balance)

    def balance(self, access_key_id: str) -> Decimal:
        with self._lock:
            return self._requester(access_key_id).balance

    def get_assignment_state(self, assignment_id: str) -> Assignment:
        """A copy of the assignment as stored, for assertions."""
        with self._lock:
            if assignment_id not in self._state.assignments:
                raise KeyError(f"unknown assignment {assignment_id}")
            return copy.copy(self._state.assignments[assignment_id])

    def get_hit_state(self, hit_id: str) -> HIT:
        with self._lock:
            return copy.deepcopy(self._hit(hit_id))

    def secret_for(self, access_key_id: str) -> str | None:
        with self._lock:
            requester = self._state.requesters.get(access_key_id)
            return requester.secret_access_key if requester else None

    def reset(self) -> None:
        """Forget all requesters, HITs, assignments, notification settings, calls and notifications;
        knobs and clock back to defaults. The SQS endpoint is kept (it describes the environment)."""
        with self._lock:
            self._state = State(requesters={}, hits={}, assignments={})
        self.clock.reset()
        self.throttle.configure(None)
        self.faults.configure(0.0)
        self.latency = 0.0
        self.call_log.reset()
        self.notifier.duplicates = False
        self.notifier.reset_log()

    def snapshot(self) -> dict[str, Any]:
        """Everything, JSON-ready (used by ``GET /_admin/state``)."""
        with self._lock:
            requesters = [
                dict(_requester_json(r),
                     hits=[dict(h.to_api(), Assignments=[a.to_api() for a in h.assignments])
                           for h in self._state.hits.values() if h.owner == r.access_key_id],
                     hitTypes=sorted(self._state.hit_types_of(r.access_key_id)),
                     notificationSettings=self._settings_json(r.access_key_id))
                for r in self._state.requesters.values()
            ]
        return {"clock": self.clock_info(), "requesters": requesters, "throttle": self.throttle.settings,
                "faults": self.faults.settings, "latencySeconds": self.latency,
                "notifications": self.notifier.settings}

    def get_notification_settings(self, access_key_id: str, hit_type_id: str) -> dict[str, Any] | None:
        """``{"HITTypeId", "Notification", "Active"}`` as set by UpdateNotificationSettings, or None."""
        with self._lock:
            setting = self._state.notification_settings.get((access_key_id, hit_type_id))
            return None if setting is None else setting.to_json(hit_type_id)

    def _settings_json(self, access_key_id: str) -> list[dict[str, Any]]:
        return [setting.to_json(hit_type) for (key, hit_type), setting in sorted(self._state.notification_settings.items())
                if key == access_key_id]

    def clock_info(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"now": now.isoformat(), "epochMs": int(now.timestamp() * 1000), "frozen": self.clock.frozen}

    # ----- knobs -----

    def set_throttle(self, rate_per_second: float | None, burst: float | None = None) -> None:
        """Token bucket per requester; ``None`` disables. Excess calls get ThrottlingException."""
        self.throttle.configure(rate_per_second, burst)

    def set_fault_rate(self, p: float | None, when: str = "before", seed: int | None = None,
                       ops: str | Iterable[str] = "writes") -> None:
        """Answer a share ``p`` of calls with ServiceFault; see ``FaultInjector``."""
        self.faults.configure(p, when=when, seed=seed, ops=ops)

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency cannot be negative")
        self.latency = float(seconds)

    def set_sqs_endpoint(self, url: str | None) -> None:
        """Where notifications are sent (e.g. moto server's URL). None: the host of each queue URL."""
        self.notifier.set_endpoint(url)

    @property
    def sqs_endpoint_url(self) -> str | None:
        return self.notifier.endpoint_url

    def set_duplicate_notifications(self, enabled: bool) -> None:
        """Send every notification twice, same EventDocId (MTurk delivers at least once)."""
        self.notifier.duplicates = bool(enabled)

    # ----- notification log -----

    @property
    def notification_log(self) -> list[NotificationRecord]:
        """Every SQS send attempted, oldest first (a copy): destination, event_doc_id, events, ok, error, ..."""
        return self.notifier.records()

    def reset_notification_log(self) -> None:
        self.notifier.reset_log()

    # ----- messages to workers (NotifyWorkers) -----

    def worker_messages(self, worker_id: str | None = None, access_key_id: str | None = None) -> list[WorkerMessage]:
        """The e-mails NotifyWorkers sent, oldest first, optionally to one worker or from one requester."""
        with self._lock:
            return [m for m in self._state.worker_messages
                    if worker_id in (None, m.worker_id) and access_key_id in (None, m.access_key_id)]

    # ----- call log -----

    def calls(self, operation: str | None = None, outcome: str | None = None,
              access_key_id: str | None = None) -> list[CallRecord]:
        return self.call_log.records(operation, outcome, access_key_id)

    def count_calls(self, operation: str | None = None, outcome: str | None = None,
                    access_key_id: str | None = None) -> int:
        return len(self.calls(operation, outcome, access_key_id))

    def reset_call_log(self) -> None:
        self.call_log.reset()

    def record_call(self, record: CallRecord) -> None:
        self.call_log.append(record)

    # ----- the API -----

    def invoke(self, operation: str, access_key_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one API call for an authenticated caller; return the response or raise ``ApiError``.

        Order as on AWS: throttling, latency, validation, then the operation. An "after"
        ServiceFault is raised with ``applied=True`` when a write went through.
        """
        if operation not in service_model().operation_names:
            raise errors.unknown_operation(operation)
        if not self.throttle.allow(access_key_id):
            raise errors.throttled()
        if self.latency:
            time.sleep(self.latency)
        handler = HANDLERS.get(operation)
        if handler is None:
            raise errors.request_error(
                rules.stamp(f"Operation {operation} is not supported by the MTurk simulator.", self.clock.now()),
                errors.UNSUPPORTED_OPERATION)
        validate_input(service_model().operation_model(operation), params)
        with self._lock:
            requester = self._state.requesters.get(access_key_id)
            if requester is None:
                raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
            fault = self.faults.draw(operation)
            if fault == "before":
                raise errors.service_fault()
            call = Call(self._state, requester, params, self.clock.now())
            result = handler(call)
        self._deliver(call.outbox, operation, call.now)
        if fault == "after":
            error = errors.service_fault()
            error.applied = operation in WRITE_OPERATIONS
            raise error
        return result

    # ----- the requester website (not the API) -----

    def website_reject(self, assignment_id: str, feedback: str) -> Assignment:
        """Reject as the HIT's owner does on the requester website: the API's rules, no SigV4,
        throttling, latency or faults; logged as ``Website.RejectAssignment``; notifies like the API.
        Raises ``ApiError`` (RequestError) as the API would answer; returns a copy of the assignment."""
        if not isinstance(feedback, str):
            raise ValueError("feedback is required to reject an assignment")
        return self._website("RejectAssignment", reject_assignment,
                             {"AssignmentId": assignment_id, "RequesterFeedback": feedback})

    def website_approve(self, assignment_id: str, feedback: str | None = None,
                        override_rejection: bool = False) -> Assignment:
        """Approve (or, with ``override_rejection``, reverse a rejection) as on the requester website;
        see ``website_reject``. Funds are checked and debited as for ApproveAssignment."""
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if feedback is not None:
            params["RequesterFeedback"] = feedback
        if override_rejection:
            params["OverrideRejection"] = True
        return self._website("ApproveAssignment", approve_assignment, params)

    def _website(self, action: str, handler: Callable[[Call], object], params: dict[str, Any]) -> Assignment:
        operation = WEBSITE_PREFIX + action
        now = self.clock.now()
        owner: str | None = None
        try:
            with self._lock:
                assignment = self._state.assignments.get(params["AssignmentId"])
                hit = self._state.hits.get(assignment.hit_id) if assignment else None
                if assignment is None or hit is None:
                    raise rules.assignment_not_found(params["AssignmentId"], now)
                owner = hit.owner
                call = Call(self._state, self._state.requesters[owner], params, now)
                handler(call)
                result = copy.copy(assignment)
        except ApiError as error:
            self._record_website(operation, owner, params, now, error)
            raise
        self._record_website(operation, owner, params, now, None)
        self._deliver(call.outbox, operation, now)
        return result

    def _record_website(self, operation: str, owner: str | None, params: dict[str, Any], now: datetime,
                        error: ApiError | None) -> None:
        self.record_call(CallRecord(
            operation=operation, access_key_id=owner, params=dict(params), outcome="ok" if error is None else error.code,
            http_status=200 if error is None else error.status, sim_time=now, request_id=str(uuid.uuid4()),
            applied=error is None, error_message=None if error is None else error.message))

    def _deliver(self, outbox: list[Outgoing], operation: str, now: datetime) -> None:
        if outbox:
            self.notifier.deliver(outbox, operation, now)

    # ----- helpers -----

    def _requester(self, access_key_id: str) -> Requester:
        requester = self._state.requesters.get(access_key_id)
        if requester is None:
            raise KeyError(f"unknown requester {access_key_id}")
        return requester

    def _hit(self, hit_id: str) -> HIT:
        hit = self._state.hits.get(hit_id)
        if hit is None:
            raise KeyError(f"unknown HIT {hit_id}")
        return hit


def _requester_json(requester: Requester) -> dict[str, str]:
    return {"accessKeyId": requester.access_key_id, "name": requester.name, "balance": f"{requester.balance:.2f}",
            "accountId": requester.account_id, "customerId": requester.customer_id}
