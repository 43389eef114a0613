"""Building blocks of the reliability harness: crash injection, an in-process MTurk client, invariants.

The MTurk side is the project's simulator called in process (``MTurkSimulator.invoke``) through a
boto3-shaped client, so the real ``Boto3MTurkGateway`` (retries, error translation, pacing) runs
unchanged without a socket per call. Every call is written to the simulator's own call log exactly as
its HTTP server does, ``applied`` included, which is what the "never applied twice" check reads.
"""
from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from local.mturk_simulator import MTurkSimulator
from local.mturk_simulator.calllog import CallRecord
from local.mturk_simulator.errors import ApiError

LONG = os.environ.get("RELIABILITY_LONG") == "1"
WRITES = ("ApproveAssignment", "RejectAssignment")
RESULTING = {"reject": "Rejected", "approve": "Approved", "reverse": "Approved"}
REQUIRED = {"reject": "Submitted", "approve": "Submitted", "reverse": "Rejected"}
_TIMESTAMPS = {"SubmitTime", "AcceptTime", "ApprovalTime", "RejectionTime", "AutoApprovalTime", "Deadline",
               "CreationTime", "Expiration"}


#: What the harness found in the Lambda code and is not fixed yet: the tests that reproduce each one are
#: xfailed (not strict) with this reason. Delete an entry once its fix has landed in lambdas/.
#: Open findings; each one's reproduction test is xfail until its entry is removed. F1-F4 are fixed.
FINDINGS: dict[str, str] = {}


def finding(name: str):
    """Mark a test that reproduces an open finding: xfail (not strict) until FINDINGS forgets it."""
    import pytest

    return pytest.mark.xfail(name in FINDINGS, reason=f"{name}: {FINDINGS.get(name, '')}", strict=False)


def scaled(ci: int, long: int) -> int:
    """A count for CI, or for the long mode (RELIABILITY_LONG=1)."""
    return long if LONG else ci


class Crash(BaseException):
    """The function is killed here (a Lambda timeout, an out-of-memory kill): no ``except Exception``
    of the service may catch it, exactly as nothing runs after a real kill."""


#: The steps of the decision protocol where a trial may crash.
STEPS = (
    "after_write_ahead",      # the PENDING record is written; MTurk was not called
    "mturk_response_lost",    # MTurk applied the write; its answer never reached the function
    "before_finalize",        # MTurk answered; the function dies before writing SUCCEEDED/FAILED
    "after_finalize",         # the record is final; the function dies before answering (batch: before marking the item)
)


@dataclass
class CrashPlan:
    """Crash once, at ``step``, for ``assignment_id`` (any assignment when None)."""

    step: str | None = None
    assignment_id: str | None = None
    fired: list[str] = field(default_factory=list)

    def arm(self, step: str | None, assignment_id: str | None = None) -> None:
        self.step, self.assignment_id = step, assignment_id

    def disarm(self) -> None:
        self.step = None

    def at(self, step: str, assignment_id: str | None) -> None:
        if self.step == step and (self.assignment_id is None or self.assignment_id == assignment_id):
            self.fired.append(f"{step}:{assignment_id}")
            self.step = None
            raise Crash(f"crash injected {step} for {assignment_id}")


def _snake_to_operation(name: str) -> str:
    special = {"get_hit": "GetHIT", "list_hits": "ListHITs", "list_reviewable_hits": "ListReviewableHITs",
               "list_assignments_for_hit": "ListAssignmentsForHIT"}
    return special.get(name) or "".join(part.capitalize() for part in name.split("_"))


def _boto_shaped(value: Any, key: str | None = None) -> Any:
    """What botocore's parser hands back: timestamps as aware datetimes, the rest as sent."""
    if isinstance(value, dict):
        return {k: _boto_shaped(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_boto_shaped(v) for v in value]
    if key in _TIMESTAMPS and isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


class InProcessMTurkClient:
    """A boto3 ``mturk`` client's shape over ``MTurkSimulator.invoke``: same errors (``ClientError`` with
    the wire code, message and HTTP status), every call in the simulator's call log, and crash hooks."""

    def __init__(self, sim: MTurkSimulator, access_key_id: str, crash: CrashPlan | None = None) -> None:
        self._sim, self._key = sim, access_key_id
        self._crash = crash or CrashPlan()
        self.calls = 0

    def __getattr__(self, name: str) -> Callable[..., dict]:
        if name.startswith("_"):
            raise AttributeError(name)
        operation = _snake_to_operation(name)
        return lambda **params: self._call(operation, params)

    def _call(self, operation: str, params: dict) -> dict:
        self.calls += 1
        wire = json.loads(json.dumps(params, default=str))  # what goes on the wire
        sim_time = self._sim.clock.now()
        try:
            result = self._sim.invoke(operation, self._key, wire)
        except ApiError as error:
            self._record(operation, wire, error.code, error.status, sim_time, error.applied, error.message)
            if error.applied and operation in WRITES:
                self._crash.at("mturk_response_lost", wire.get("AssignmentId"))
            raise ClientError({"Error": {"Code": error.code, "Message": error.message},
                               "ResponseMetadata": {"HTTPStatusCode": error.status}}, operation) from None
        self._record(operation, wire, "ok", 200, sim_time, operation in WRITES, None)
        if operation in WRITES:
            self._crash.at("mturk_response_lost", wire.get("AssignmentId"))
        return _boto_shaped(result)

    def _record(self, operation, params, outcome, status, sim_time, applied, message) -> None:
        self._sim.record_call(CallRecord(operation=operation, access_key_id=self._key, params=params,
                                         outcome=outcome, http_status=status, sim_time=sim_time,
                                         request_id=f"in-process-{self.calls}", applied=applied,
                                         error_message=message))


class CrashingAudit:
    """The real audit store, with crash points around its writes. Everything else passes through."""

    def __init__(self, audit: Any, crash: CrashPlan) -> None:
        self._audit, self._crash = audit, crash

    def write_ahead(self, record, lease_expires_at) -> None:
        self._audit.write_ahead(record, lease_expires_at)
        self._crash.at("after_write_ahead", record.assignment_id)

    def finalize(self, record, state, finalized_at, error_code=None, error_message=None, joined=None) -> bool:
        self._crash.at("before_finalize", record.assignment_id)
        joined_written = self._audit.finalize(record, state, finalized_at, error_code, error_message, joined)
        self._crash.at("after_finalize", record.assignment_id)
        return joined_written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._audit, name)


# ----- invariants -----

@dataclass
class Verdict:
    assignment_id: str
    problems: list[str]
    #: More SUCCEEDED records than MTurk writes that took effect (the audit counts one write twice).
    double_counted: str | None = None

    def __bool__(self) -> bool:
        return not self.problems


def applied_writes(sim: MTurkSimulator, assignment_id: str, access_key_id: str | None = None) -> list[CallRecord]:
    return [call for call in sim.calls(access_key_id=access_key_id)
            if call.operation in WRITES and call.applied and call.params.get("AssignmentId") == assignment_id]


def check_intent(sim: MTurkSimulator, audit: Any, assignment_id: str, action: str,
                 access_key_id: str | None = None, reconciled: bool = True) -> Verdict:
    """One intent (``action`` on an assignment that was in the required status), after the trial:

    - 0 double-applied writes: at most one MTurk write took effect for it (simulator call log);
    - 0 lost decisions: a write that took effect has an audit record, SUCCEEDED once ``reconciled``;
    - 0 audit records without MTurk state: a SUCCEEDED record means MTurk shows the resulting status,
      and once ``reconciled`` no record is left PENDING.
    ``double_counted`` notes more SUCCEEDED records than writes that took effect.
    """
    problems = []
    writes = applied_writes(sim, assignment_id, access_key_id)
    status = sim.get_assignment_state(assignment_id).status
    applied = status == RESULTING[action]
    history = audit.history(assignment_id)
    states = [record.state.value for record in history]
    succeeded = [record for record in history if record.state.value == "SUCCEEDED"]
    if len(writes) > 1:
        problems.append(f"{len(writes)} MTurk writes took effect for one intent: "
                        f"{[(w.operation, w.outcome) for w in writes]}")
    if writes and not history:
        problems.append(f"lost decision: MTurk applied {writes[0].operation} and there is no audit record")
    if reconciled and writes and not succeeded:
        problems.append(f"lost decision: MTurk applied {writes[0].operation} but the audit says {states}")
    if succeeded and not applied:
        problems.append(f"audit says SUCCEEDED but MTurk shows {status}")
    if applied and not writes:
        problems.append(f"MTurk shows {status} without any write in the call log")
    if reconciled and "PENDING" in states:
        problems.append(f"records left PENDING after reconciliation: {states}")
    for record in history:
        if record.action.value != action:
            problems.append(f"a record of another action ({record.action.value}) appeared")
    double = None
    if len(succeeded) > len(writes):
        double = f"{len(succeeded)} SUCCEEDED records for {len(writes)} MTurk write(s): {states}"
    return Verdict(assignment_id, problems, double)


def summarize(verdicts: Iterable[Verdict], limit: int = 10) -> str:
    bad = [v for v in verdicts if not v]
    lines = [f"{len(bad)} trial(s) broke an invariant"]
    for verdict in bad[:limit]:
        lines.append(f"  {verdict.assignment_id}: " + "; ".join(verdict.problems))
    return "\n".join(lines)


def secret_free(text: str, secrets: Iterable[str]) -> list[str]:
    return [secret for secret in secrets if secret and secret in text]


def reconciler_class():
    """The lead's ``Reconciler`` if it has landed, else None (tests that need it are xfailed)."""
    try:
        from mturk_decisions.service.reconciler import Reconciler
    except ImportError:
        return None
    return Reconciler


def make_reconciler(mturk, audit, clock: Callable[[], datetime]):
    """``Reconciler(mturk, audit, clock, older_than=...)`` settling everything older than 'now': its clock
    runs an hour ahead so that every record of the trial is old enough, whatever the default age."""
    import inspect

    cls = reconciler_class()
    later = lambda: clock() + timedelta(hours=1)
    default = inspect.signature(cls).parameters.get("older_than")
    if default is not None and isinstance(default.default, (int, float)):
        return cls(mturk, audit, later, older_than=0)
    return cls(mturk, audit, later, older_than=timedelta(0))


def rng_for(name: str) -> random.Random:
    """A seeded generator per test: RELIABILITY_SEED reproduces a run; the seed is printed on failure."""
    seed = int(os.environ.get("RELIABILITY_SEED") or random.SystemRandom().randrange(1 << 30))
    generator = random.Random(f"{name}:{seed}")
    generator.seed_value = seed  # type: ignore[attr-defined]
    return generator



class SigV4RequestsAuth:
    """A ``requests`` auth hook that SigV4-signs each prepared request for ``execute-api``, as awscurl does.

    Only Host, Content-Type and the SigV4 headers are signed: whatever else a client adds travels unsigned,
    which SigV4 allows. ``secret_key`` may be wrong on purpose (negative tests).
    """

    def __init__(self, access_key: str, secret_key: str, service: str = "execute-api", region: str = "us-east-1",
                 when: datetime | None = None) -> None:
        from botocore.credentials import Credentials

        self.credentials = Credentials(access_key, secret_key)
        self.service, self.region, self.when = service, region, when

    def __call__(self, prepared):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = {name: value for name, value in prepared.headers.items() if name.lower() == "content-type"}
        request = AWSRequest(method=prepared.method, url=prepared.url, data=body, headers=headers)
        signer = SigV4Auth(self.credentials, self.service, self.region)
        if self.when is not None:
            _sign_at(signer, request, self.when)
        else:
            signer.add_auth(request)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token"):
            if name in request.headers:
                prepared.headers[name] = request.headers[name]
        return prepared


def _sign_at(signer, request, when: datetime) -> None:
    """Sign as if the clock showed ``when`` (a stale or future X-Amz-Date)."""
    import botocore.auth

    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *args, **kwargs: when.astimezone(UTC).replace(tzinfo=None)
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original


def api_app():
    """The API's Powertools resolver, wherever the handler module keeps it (it may be imported lazily)."""
    try:
        from mturk_decisions.api.routes import app
    except ImportError:
        from mturk_decisions.handlers.api import app
    return app


def openapi_document() -> dict:
    return json.loads(api_app().get_openapi_json_schema())
