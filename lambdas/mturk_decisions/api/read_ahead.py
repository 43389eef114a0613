"""A cold environment's first decision reads its assignment from MTurk while the routes are built.

An environment's first request to the assignment routes imports them and builds their validation models
(Powertools' OpenAPI layer and pydantic): CPU the request would otherwise spend before its first MTurk call,
which then waits 100-250 ms for MTurk's answer. When a request is very likely a decision (`POST
/assignments/{id}/reject | reverse | approve`, an MTurk id, a JSON object body, with feedback where a reject
needs it and no `at` on a reverse, which schedules instead), the MTurk gateway reads the assignment ahead (and,
for a reversal or an approval, which cost money, the balance) in the background, and the decision's own reads
take those answers (`adapters.mturk`: `read_ahead`). Only reads: the decision's write is made by the decision.

Not where the routes are built already (a warm environment, or one restored from a SnapStart snapshot: nothing
to overlap), and not for a request the gate doubts: such a request is validated and answered as always, and a
read made ahead for one the validation refuses is dropped unused at the end of the request.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from mturk_decisions.observability import logger

#: The module whose import builds the assignment routes and their models: once it is loaded, nothing to overlap.
ASSIGNMENT_ROUTES = "mturk_decisions.api.assignment_routes"
_DECISION_PATH = re.compile(r"/assignments/([A-Z0-9]{1,64})/(reject|reverse|approve)")
#: The largest body the gate reads: a decision's body is small, and a larger one is left to the validation.
MAX_BODY = 16_384


@runtime_checkable
class ReadsAhead(Protocol):
    """The part of the MTurk gateway this module uses (`Boto3MTurkGateway`; a test's stand-in may lack it)."""

    def read_ahead(self, assignment_id: str, balance: bool = False) -> None: ...

    def drop_reads_ahead(self) -> None: ...


def reads_for(event: Mapping[str, Any]) -> tuple[str, bool] | None:
    """(assignment id, whether the balance is read too) of a request very likely to be a decision; else None."""
    match = _DECISION_PATH.fullmatch(str(event.get("path") or ""))
    if event.get("httpMethod") != "POST" or event.get("isBase64Encoded") or match is None:
        return None
    body = _json_object(event)
    if body is None:
        return None
    assignment_id, action = match.groups()
    if action == "reject" and not (isinstance(body.get("feedback"), str) and body["feedback"].strip()):
        return None
    if action == "reverse" and body.get("at") is not None:
        return None
    return assignment_id, action != "reject"


def _json_object(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The body as a JSON object ({} when there is none); None for anything else."""
    text = event.get("body")
    if text is None or text == "":
        return {}
    headers = {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}
    if not isinstance(text, str) or len(text) > MAX_BODY or "json" not in headers.get("content-type", ""):
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@contextmanager
def reading_ahead(event: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, the reads of a cold decision are made ahead (see the module docstring); after it, any
    read left unused is dropped, so no later request is answered from it."""
    reads = None if ASSIGNMENT_ROUTES in sys.modules else reads_for(event)
    gateway = _gateway() if reads is not None else None
    if gateway is not None and reads is not None:
        gateway.read_ahead(*reads)
    try:
        yield
    finally:
        if gateway is not None:
            gateway.drop_reads_ahead()


def _gateway() -> ReadsAhead | None:
    """This environment's MTurk gateway, if it reads ahead (a test's stand-in may not); None when it cannot be
    made now: the request then makes it, and answers what is wrong."""
    try:
        from mturk_decisions import wiring

        gateway = wiring.current().mturk
    except Exception:  # e.g. a setting missing: the route answers it (503 NOT_CONFIGURED)
        logger.debug("no read ahead: the MTurk gateway could not be made before the routes")
        return None
    return gateway if isinstance(gateway, ReadsAhead) else None
