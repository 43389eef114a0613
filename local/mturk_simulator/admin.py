"""The ``/_admin/`` JSON endpoint: seeding and knobs for tests and demos (no SigV4).

Bodies and answers use camelCase keys; times are ISO 8601 (naive means UTC).
Errors answer ``{"error": "..."}`` with HTTP 400 (bad input) or 404 (unknown route/entity).
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from . import errors
from .errors import ApiError
from .simulator import MTurkSimulator

#: A route's handler: (the simulator, the JSON body, the path's match, the query) -> (HTTP status, payload).
Body = dict[str, Any]
Query = dict[str, str]
Answer = tuple[int, Any]
Handler = Callable[[MTurkSimulator, Body, "re.Match[str]", Query], Answer]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^/_admin{pattern}$"), handler))
        return handler
    return register


class _BadRequest(Exception):
    pass


def _time(value: str | None) -> datetime | None:
    return None if value is None else _parse_time(value)


def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _BadRequest(f"not an ISO 8601 time: {value!r}") from None


def _required(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise _BadRequest(f"missing {name}")
    return body[name]


@route("GET", "/state")
def _state(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, sim.snapshot()


@route("POST", "/reset")
def _reset(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.reset()
    _SCENARIOS.pop(sim, None)
    return 200, {}


@route("POST", "/requesters")
def _add_requester(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    key = sim.add_requester(_required(body, "accessKeyId"), _required(body, "secretAccessKey"),
                            balance=body.get("balance", "100.00"), name=body.get("name"),
                            account_id=body.get("accountId"), customer_id=body.get("customerId"))
    return 201, {"accessKeyId": key}


@route("GET", "/requesters/(?P<key>[^/]+)")
def _get_requester(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, sim.requester_info(match["key"])


@route("POST", "/hit-types")
def _add_hit_type(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 201, {"hitTypeId": sim.add_hit_type(_required(body, "accessKeyId"), body.get("hitTypeId"))}


@route("GET", "/requesters/(?P<key>[^/]+)/balance")
def _get_balance(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, {"balance": f"{sim.balance(match['key']):.2f}"}


@route("POST", "/requesters/(?P<key>[^/]+)/balance")
def _set_balance(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.set_balance(match["key"], _required(body, "balance"))
    return 200, {"balance": f"{sim.balance(match['key']):.2f}"}


@route("POST", "/hits")
def _add_hit(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    hit_id = sim.add_hit(
        _required(body, "accessKeyId"), reward=body.get("reward", "0.50"), max_assignments=int(body.get("maxAssignments", 3)),
        status=body.get("status", "Assignable"), title=body.get("title"), created_at=_time(body.get("createdAt")),
        hit_id=body.get("hitId"), hit_type_id=body.get("hitTypeId"), description=body.get("description"))
    return 201, {"hitId": hit_id}


@route("GET", "/hits/(?P<hit>[^/]+)")
def _get_hit(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    hit = sim.get_hit_state(match["hit"])
    return 200, dict(hit.to_api(), Assignments=[a.to_api() for a in hit.assignments])


@route("POST", "/hits/(?P<hit>[^/]+)/status")
def _set_hit_status(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.set_hit_status(match["hit"], _required(body, "status"))
    return 200, {"hitId": match["hit"], "status": body["status"]}


@route("POST", "/assignments")
def _add_assignment(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    assignment_id = sim.add_assignment(
        _required(body, "hitId"), worker_id=body.get("workerId"), status=body.get("status", "Submitted"),
        submitted_at=_time(body.get("submittedAt")), feedback=body.get("feedback"),
        assignment_id=body.get("assignmentId"), answer=body.get("answer"))
    return 201, {"assignmentId": assignment_id}


@route("GET", "/assignments/(?P<assignment>[^/]+)")
def _get_assignment(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, sim.get_assignment_state(match["assignment"]).to_api()


@route("GET", "/clock")
def _get_clock(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, sim.clock_info()


@route("POST", "/clock")
def _set_clock(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    """One of: {"set": iso}, {"advanceSeconds": n}, {"advanceDays": n}, {"freeze": true},
    {"resume": true}, {"reset": true}."""
    if body.get("set") is not None:
        sim.clock.set(_parse_time(body["set"]))
    elif body.get("advanceSeconds") is not None or body.get("advanceDays") is not None:
        sim.clock.advance(seconds=float(body.get("advanceSeconds") or 0), days=float(body.get("advanceDays") or 0))
    elif body.get("freeze"):
        sim.clock.freeze()
    elif body.get("resume"):
        sim.clock.resume()
    elif body.get("reset"):
        sim.clock.reset()
    else:
        raise _BadRequest("expected one of set, advanceSeconds, advanceDays, freeze, resume, reset")
    return 200, sim.clock_info()


@route("GET", "/throttle")
def _get_throttle(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, sim.throttle.settings


@route("POST", "/throttle")
def _set_throttle(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.set_throttle(body.get("ratePerSecond"), body.get("burst"))
    return 200, sim.throttle.settings


@route("GET", "/faults")
def _get_faults(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, sim.faults.settings


@route("POST", "/faults")
def _set_faults(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.set_fault_rate(body.get("rate"), when=body.get("when", "before"), seed=body.get("seed"), ops=body.get("ops", "writes"))
    return 200, sim.faults.settings


@route("GET", "/latency")
def _get_latency(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, {"seconds": sim.latency}


@route("POST", "/latency")
def _set_latency(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.set_latency(float(body.get("seconds") or 0))
    return 200, {"seconds": sim.latency}


@route("GET", "/worker-messages")
def _worker_messages(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    """What NotifyWorkers sent (``?workerId=`` for one worker's), oldest first."""
    return 200, {"messages": [m.to_json() for m in sim.worker_messages(query.get("workerId"))]}


@route("GET", "/notifications")
def _get_notifications(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    records = sim.notification_log
    return 200, dict(sim.notifier.settings, count=len(records), notifications=[r.to_json() for r in records])


@route("DELETE", "/notifications")
def _reset_notifications(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.reset_notification_log()
    return 200, {}


@route("GET", "/notifications/sqs-endpoint")
def _get_sqs_endpoint(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, {"endpointUrl": sim.sqs_endpoint_url}


@route("POST", "/notifications/sqs-endpoint")
def _set_sqs_endpoint(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    """``{"endpointUrl": "http://127.0.0.1:5000"}``; null sends to each queue URL's own host."""
    if "endpointUrl" not in body:
        raise _BadRequest("missing endpointUrl (null to send to each queue URL's host)")
    sim.set_sqs_endpoint(body["endpointUrl"])
    return 200, {"endpointUrl": sim.sqs_endpoint_url}


@route("GET", "/notifications/duplicates")
def _get_duplicates(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    return 200, {"enabled": sim.notifier.duplicates}


@route("POST", "/notifications/duplicates")
def _set_duplicates(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    enabled = _required(body, "enabled")
    if not isinstance(enabled, bool):
        raise _BadRequest("enabled must be true or false")
    sim.set_duplicate_notifications(enabled)
    return 200, {"enabled": sim.notifier.duplicates}


@route("POST", "/website/reject")
def _website_reject(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    feedback = _required(body, "feedback")
    if not isinstance(feedback, str):
        raise _BadRequest("feedback must be a string")
    return 200, sim.website_reject(_required(body, "assignmentId"), feedback).to_api()


@route("POST", "/website/approve")
def _website_approve(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    assignment = sim.website_approve(_required(body, "assignmentId"), feedback=body.get("feedback"),
                                     override_rejection=bool(body.get("overrideRejection", False)))
    return 200, assignment.to_api()


@route("GET", "/calls")
def _get_calls(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    calls = sim.calls(operation=query.get("operation"), outcome=query.get("outcome"), access_key_id=query.get("accessKeyId"))
    return 200, {"count": len(calls), "calls": [c.to_json() for c in calls]}


@route("DELETE", "/calls")
def _reset_calls(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    sim.reset_call_log()
    return 200, {}


# ----- named scenarios: a requester's HITs and assignments in one call, re-seeded on request -----
#: The scenarios stored per simulator: name -> {"spec": ..., "generation": n, "seeded": last answer}.
_SCENARIOS: weakref.WeakKeyDictionary[MTurkSimulator, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()
_SCENARIOS_LOCK = threading.Lock()


def _check_scenario(spec: dict[str, Any]) -> None:
    """Refuse a scenario before anything is created: unknown keys of HITs, duplicates, bad types."""
    _required(spec, "accessKeyId")
    hits, assignments = spec.get("hits") or [], spec.get("assignments") or []
    if not isinstance(hits, list) or not isinstance(assignments, list):
        raise _BadRequest("hits and assignments must be lists")
    keys = [_required(hit, "key") for hit in hits if isinstance(hit, dict)]
    if len(keys) != len(hits) or len(set(keys)) != len(keys):
        raise _BadRequest("every HIT needs a key of its own")
    named = [a["key"] for a in assignments if isinstance(a, dict) and a.get("key")]
    if len(set(named)) != len(named) or set(named) & set(keys):
        raise _BadRequest("assignment keys must be unique (and differ from the HITs' keys)")
    for assignment in assignments:
        if not isinstance(assignment, dict) or assignment.get("hit") not in keys:
            raise _BadRequest(f"an assignment must name one of the scenario's HITs: {assignment!r:.120}")
        float(assignment.get("submittedDaysAgo") or 0)


def _seed_scenario(sim: MTurkSimulator, spec: dict[str, Any]) -> dict[str, Any]:
    """Create the scenario's HITs (their `status` set once their assignments are in) and assignments
    (submitted `submittedDaysAgo` before the simulator's now), with new ids; set the balance if given."""
    key, now = spec["accessKeyId"], sim.clock.now()
    if spec.get("balance") is not None:
        sim.set_balance(key, spec["balance"])
    ids: dict[str, str] = {}
    for hit in spec.get("hits") or []:
        if hit.get("hitTypeId"):
            sim.add_hit_type(key, hit["hitTypeId"])
        ids[hit["key"]] = sim.add_hit(key, reward=hit.get("reward", "0.50"), title=hit.get("title"),
                                      max_assignments=int(hit.get("maxAssignments", 3)),
                                      hit_type_id=hit.get("hitTypeId"))
    created = []
    for assignment in spec.get("assignments") or []:
        submitted = now - timedelta(days=float(assignment.get("submittedDaysAgo") or 0))
        hit_id = ids[assignment["hit"]]
        assignment_id = sim.add_assignment(hit_id, worker_id=assignment.get("workerId"),
                                           status=assignment.get("status", "Submitted"), submitted_at=submitted,
                                           feedback=assignment.get("feedback"))
        if assignment.get("key"):
            ids[assignment["key"]] = assignment_id
        created.append({"key": assignment.get("key"), "assignmentId": assignment_id, "hitId": hit_id,
                        "workerId": sim.get_assignment_state(assignment_id).worker_id,
                        "status": assignment.get("status", "Submitted"), "submittedAt": submitted.isoformat()})
    for hit in spec.get("hits") or []:
        if hit.get("status") and hit["status"] != "Assignable":
            sim.set_hit_status(ids[hit["key"]], hit["status"])
    return {"ids": ids, "assignments": created}


def _answer(name: str, stored: dict[str, Any], summary: bool) -> dict[str, Any]:
    answer = {"scenario": name, "generation": stored["generation"]}
    return answer if summary else {**answer, **stored["seeded"]}


@route("POST", "/scenarios/(?P<name>[A-Za-z0-9_.-]{1,64})")
def _put_scenario(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    """Store the scenario under its name and seed it: ``{"accessKeyId", "balance"?, "hits": [{"key", "title"?,
    "reward"?, "maxAssignments"?, "hitTypeId"?, "status"?}], "assignments": [{"hit", "key"?, "status"?,
    "submittedDaysAgo"?, "workerId"?, "feedback"?}]}``. Answers the new ids by key and every assignment."""
    _check_scenario(body)
    seeded = _seed_scenario(sim, body)
    with _SCENARIOS_LOCK:
        scenarios = _SCENARIOS.setdefault(sim, {})
        generation = scenarios.get(match["name"], {}).get("generation", 0) + 1
        scenarios[match["name"]] = stored = {"spec": body, "generation": generation, "seeded": seeded}
    return 200, _answer(match["name"], stored, summary=False)


@route("POST", "/scenarios/(?P<name>[A-Za-z0-9_.-]{1,64})/reseed")
def _reseed_scenario(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    """Seed the stored scenario again: fresh HITs and assignments (new ids, times from the clock's now);
    what the earlier seeds created stays as it is. Answers like the first seed, with the next generation."""
    with _SCENARIOS_LOCK:
        stored = _SCENARIOS.get(sim, {}).get(match["name"])
    if stored is None:
        raise KeyError(f"no scenario {match['name']}")
    seeded = _seed_scenario(sim, stored["spec"])
    with _SCENARIOS_LOCK:
        latest = _SCENARIOS[sim][match["name"]]
        _SCENARIOS[sim][match["name"]] = stored = dict(latest, generation=latest["generation"] + 1, seeded=seeded)
    return 200, _answer(match["name"], stored, summary=False)


@route("GET", "/scenarios/(?P<name>[A-Za-z0-9_.-]{1,64})")
def _get_scenario(sim: MTurkSimulator, body: Body, match: re.Match[str], query: Query) -> Answer:
    """The last seed of a scenario; ``?summary=true``: its generation only."""
    with _SCENARIOS_LOCK:
        stored = _SCENARIOS.get(sim, {}).get(match["name"])
    if stored is None:
        raise KeyError(f"no scenario {match['name']}")
    return 200, _answer(match["name"], stored, summary=query.get("summary") == "true")


def handle(sim: MTurkSimulator, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
    """Answer one admin request: (HTTP status, JSON-ready payload)."""
    candidates = [(m, h, match) for m, pattern, h in _ROUTES if (match := pattern.match(path))]
    if not candidates:
        return 404, {"error": f"no admin route {path}"}
    chosen = next(((h, match) for m, h, match in candidates if m == method), None)
    if chosen is None:
        return 405, {"error": f"{method} not allowed on {path}"}
    try:
        payload = json.loads(body) if body.strip() else {}
        if not isinstance(payload, dict):
            raise _BadRequest("the body must be a JSON object")
        handler, match = chosen
        return handler(sim, payload, match, {k: v[-1] for k, v in parse_qs(query).items()})
    except ApiError as exc:  # an MTurk rule refused a website action: answer as the API would describe it
        status = 404 if exc.turk_code == errors.ASSIGNMENT_DOES_NOT_EXIST else 400
        return status, {"error": exc.message, "code": exc.code, "turkErrorCode": exc.turk_code}
    except KeyError as exc:
        return 404, {"error": str(exc.args[0]) if exc.args else "not found"}
    except (_BadRequest, ValueError, TypeError, ArithmeticError) as exc:
        return 400, {"error": str(exc)}
    except RecursionError:
        return 400, {"error": "the body is nested too deeply"}
