"""SnapStart's runtime hooks (lambdas/mturk_decisions/snapstart.py), run offline.

Each scenario runs in a fresh interpreter, as a Lambda execution environment does (module state is the point:
a test process that already imported and served things would prove nothing), against moto and the MTurk
simulator of `bench.coldstart.OfflineServices` (the requester's keys in the secret, so a hook that read it would
be caught). The hooks are imported and called directly: `before_snapshot("api")` is what Lambda runs before it
takes the snapshot, `after_restore()` what each environment resumed from it runs before its first event.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from bench.coldstart import OfflineServices, fresh_env, run_fresh
from bench.env import ROOT
from local.stack import API_FUNCTION, DEMO_MTURK_KEY
from mturk_decisions import snapstart

SECRET = DEMO_MTURK_KEY[1]

#: Prints what an environment holds: credentials, an MTurk client made with the key, the cached secret, open
#: sockets (of every client made, and any socket object), whether the secret's value is anywhere in memory.
_HOLDINGS = r"""
import os
SECRET = os.environ.pop("WATCHED_SECRET")  # given here, not in the script: a failure shows the script


def holdings():
    import gc, json, socket
    from mturk_decisions import wiring
    from mturk_decisions.adapters import aws_clients
    provider = wiring.current().mturk_client_provider
    secrets = provider._secrets
    cache = getattr(secrets.resolve(), "store", {}) if secrets.made else {}
    pools = [pool for obj in gc.get_objects() if type(obj).__name__ == "PoolManager"
             for pool in obj.pools._container.values()]
    open_sockets = [s for s in gc.get_objects() if isinstance(s, socket.socket) and s.fileno() != -1]
    secret_in_memory = any(isinstance(o, str) and SECRET in o for o in gc.get_objects())
    return {"credentials": aws_clients.cached_credentials() is not None, "mturk_client": provider.holds_a_key,
            "secret_cached": bool(cache), "connections": sum(pool.num_connections for pool in pools),
            "open_sockets": len(open_sockets), "secret_in_memory": secret_in_memory}
"""


@pytest.fixture(scope="module")
def offline():
    saved = dict(os.environ)
    with OfflineServices(suffix="-snapstart-test") as services:
        yield services
    os.environ.clear()
    os.environ.update(saved)


def _script(offline: OfflineServices, body: str, *args: str) -> dict:
    """Run `body` (after `_HOLDINGS`) in a fresh interpreter with the API function's environment; it prints JSON."""
    env = {**fresh_env(offline.function_env(API_FUNCTION)), "WATCHED_SECRET": SECRET}
    done = subprocess.run([sys.executable, "-c", f"{_HOLDINGS}\n{body}", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:].replace(SECRET, "<secret>")
    return json.loads(done.stdout.strip().splitlines()[-1])


_SERVE_ONE_REJECT = """
import json as _json, sys as _sys
_answer = api.handler(_json.loads(_sys.argv[1]), type("C", (), {"function_name": "api", "function_version": "1",
    "memory_limit_in_mb": 512, "aws_request_id": "t", "log_group_name": "g", "log_stream_name": "s",
    "invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:api",
    "get_remaining_time_in_millis": lambda self: 29000})())
assert _answer["statusCode"] == 200, _answer
"""


def test_register_is_a_no_op_offline():
    # Given no `snapshot_restore_py` (it exists in Lambda's Python runtime only)
    with pytest.raises(ImportError):
        __import__("snapshot_restore_py")
    # When a handler module registers its hooks
    registered = snapstart.register(snapstart.API)
    # Then nothing is registered, and nothing fails
    assert registered is False


def test_before_snapshot_leaves_nothing_secret_in_the_environment(offline):
    # Given a fresh API environment, its handler imported
    # When the before-snapshot hook runs, as Lambda runs it before taking the snapshot
    held = _script(offline, """
import mturk_decisions.handlers.api
from mturk_decisions import snapstart, wiring
snapstart.before_snapshot("api")
import json; print(json.dumps({**holdings(), "parts_made": wiring.current().service is not None}))
""")
    # Then what it made is there (the service and its parts) ...
    assert held["parts_made"] is True
    # ... and nothing that would be in the snapshot is secret or live: no credentials, no MTurk client made with
    # the key, no secret (cached or anywhere in memory), no open connection or socket
    assert held == {"credentials": False, "mturk_client": False, "secret_cached": False, "connections": 0,
                    "open_sockets": 0, "secret_in_memory": False, "parts_made": True}


def test_after_restore_drops_the_secret_the_client_and_the_credentials_a_warm_environment_held(offline):
    # Given an environment that served a reject (it read the secret, made its MTurk client, resolved credentials)
    event = offline.reject_event(offline.assignment()[1])
    held = _script(offline, f"""
import mturk_decisions.handlers.api as api
from mturk_decisions import snapstart
{_SERVE_ONE_REJECT}
warm = holdings()
snapstart.after_restore()  # When the after-restore hook runs
import json; print(json.dumps({{"warm": warm, "restored": holdings()}}))
""", json.dumps(event))
    assert held["warm"]["mturk_client"] and held["warm"]["secret_cached"] and held["warm"]["credentials"]
    # Then the secret, the client made with it and the credentials are gone: the next request reads them afresh
    restored = held["restored"]
    assert (restored["mturk_client"], restored["secret_cached"], restored["credentials"]) == (False, False, False)


_DRAWS = """
import json, random, sys
import mturk_decisions.handlers.api
from mturk_decisions import snapstart, wiring
random.seed(1234); wiring.jitter.seed(1234)  # the state every environment resumed from one snapshot starts with
if sys.argv[1] == "restore":
    snapstart.after_restore()
print(json.dumps([random.random(), wiring.jitter.random()]))
"""


def _draws(offline: OfflineServices, restore: bool) -> list[float]:
    env = fresh_env(offline.function_env(API_FUNCTION))
    done = subprocess.run([sys.executable, "-c", _DRAWS, "restore" if restore else "no"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_after_restore_reseeds_random_so_two_restored_environments_draw_differently(offline):
    # Given two environments resumed from the same snapshot (the same random state in each)
    # When each runs the after-restore hook and draws
    first, second = _draws(offline, restore=True), _draws(offline, restore=True)
    # Then their draws differ: `random` and the MTurk retries' jitter alike
    assert first[0] != second[0] and first[1] != second[1]
    # And without the hook they would have drawn the same numbers
    assert _draws(offline, restore=False) == _draws(offline, restore=False)


#: What differs between two decisions by design: uuids (decision), request ids, times, MTurk ids (assignment, HIT,
#: worker: each decision is on an assignment of its own).
_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\d[T ][\d:.]+Z?"
                  r"|\b3[0-9A-Z]{29}\b|\bA[0-9A-Z]{9,}\b|\bbench-\d+")


def _normalized(value) -> str:
    return _IDS.sub("<id>", json.dumps(value, sort_keys=True) if not isinstance(value, str) else value)


def test_a_request_served_after_restore_is_answered_and_audited_as_one_served_cold(offline):
    # Given a submitted assignment for each of two fresh API environments
    served = {}
    for mode in ("cold", "restored"):
        spec, env = offline.spec("api_first_decision")
        assignment = spec["event"]["path"].split("/")[2]
        # When one serves its reject cold, the other after the before-snapshot and after-restore hooks
        result, _ = run_fresh(mode, spec, env)
        served[mode] = (result["answer"], offline.audit_records(assignment))
    (cold, cold_audit), (restored, restored_audit) = served["cold"], served["restored"]
    # Then both answer the same status, headers and body (ids and times aside)
    assert cold["statusCode"] == restored["statusCode"] == 200
    assert _normalized({k: v for k, v in cold.items() if k != "body"}) == _normalized(
        {k: v for k, v in restored.items() if k != "body"})
    assert _normalized(cold["body"]) == _normalized(restored["body"])
    # And both decisions are audited alike: the same records, attributes and values (ids and times aside)
    assert len(cold_audit) == len(restored_audit) >= 1
    assert '"SUCCEEDED"' in _normalized(cold_audit)
    assert _normalized(cold_audit) == _normalized(restored_audit)


def test_the_bench_script_serves_the_first_event_of_every_snapstart_hook_name(offline):
    # Given the handler names the handler modules register with
    for name in ("api_first_decision", "batch_worker", "events", "notifications"):
        spec, env = offline.spec(name)
        # When the hooks run before a restored environment's first event
        result, _ = run_fresh("restored", spec, env)
        # Then the event is served as in a cold environment
        answer = result["answer"]
        assert answer.get("statusCode") == 200 if name.startswith("api") else answer == {"batchItemFailures": []}

