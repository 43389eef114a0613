"""Python's cyclic collector during a cold start (lambdas/mturk_decisions/collector.py): paused in a Lambda execution
environment only, resumed (what was made frozen) when the first invocation ends however it ends, at its start for
a function whose first invocation may be long, and before a SnapStart snapshot."""
from __future__ import annotations

import gc
import json
import subprocess
import sys

import pytest

from bench.coldstart import FIRST_REQUEST_ENV
from bench.env import ROOT
from mturk_decisions import collector


@pytest.fixture()
def restored_collector(monkeypatch):
    """Whatever a test does to the collector, this process collects as before afterwards."""
    yield monkeypatch
    monkeypatch.setattr(collector, "_paused", False)
    gc.unfreeze()
    gc.enable()


def test_given_a_process_that_is_not_a_lambda_environment_when_asked_to_pause_then_the_collector_runs_on(
        restored_collector):
    # Given a process without Lambda's AWS_LAMBDA_FUNCTION_NAME (tests, the CLI, the local stack's own process)
    restored_collector.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    # When the handlers' package asks to pause the collector
    paused = collector.pause()
    # Then nothing changed
    assert not paused and gc.isenabled() and not collector.paused()


def test_given_a_lambda_environment_when_its_first_invocation_fails_then_the_collector_resumes_anyway(
        restored_collector):
    # Given a Lambda environment whose collector was paused at import, and a handler whose first invocation fails
    restored_collector.setenv("AWS_LAMBDA_FUNCTION_NAME", "mturk-decisions-api")
    assert collector.pause() and not gc.isenabled()
    during = []

    @collector.resumes_after_first_invocation
    def handler(event, context):
        during.append(gc.isenabled())
        raise RuntimeError("the first invocation failed")

    # When it is invoked
    with pytest.raises(RuntimeError):
        handler({}, None)
    # Then the collector waited during the invocation, and collects again after it, what was made frozen
    assert during == [False]
    assert gc.isenabled() and not collector.paused() and gc.get_freeze_count() > 0


def test_given_a_collector_resumed_when_later_invocations_end_then_nothing_changes(restored_collector):
    # Given a Lambda environment past its first invocation
    restored_collector.setenv("AWS_LAMBDA_FUNCTION_NAME", "mturk-decisions-api")
    collector.pause()
    handler = collector.resumes_after_first_invocation(lambda event, context: "answered")
    handler({}, None)
    frozen = gc.get_freeze_count()
    # When it is invoked again
    answer = handler({}, None)
    # Then it answers as always, the collector running, nothing frozen again
    assert answer == "answered" and gc.isenabled() and gc.get_freeze_count() <= frozen  # frozen objects may be freed


@pytest.mark.parametrize("module", ["upload_parser", "batch_worker"])
def test_given_a_function_whose_first_invocation_may_be_long_when_it_starts_then_the_collector_runs_during_it(
        restored_collector, module):
    # Given the upload parser or the batch worker in a Lambda environment, its collector paused
    import importlib

    from bench.fresh_function import Context

    handlers = importlib.import_module(f"mturk_decisions.handlers.{module}")
    restored_collector.setenv("AWS_LAMBDA_FUNCTION_NAME", f"mturk-decisions-{module}")
    collector.pause()
    during = []
    restored_collector.setattr(handlers, "process_partial_response",
                               lambda **_: during.append(gc.isenabled()) or {"batchItemFailures": []})
    frozen = gc.get_freeze_count()
    # When its first invocation starts
    handlers.handler({"Records": []}, Context(f"mturk-decisions-{module}"))
    # Then the collector was running while it worked (an upload of 100,000 rows is collected as usual), with its
    # usual accounting: nothing frozen
    assert during == [True] and gc.get_freeze_count() <= frozen  # frozen objects may be freed, none added


_BEFORE_SNAPSHOT = """
import gc, json
import mturk_decisions.handlers.api
paused_at_import = not gc.isenabled()
from mturk_decisions import snapstart
snapstart.before_snapshot("api")
print(json.dumps({"paused_at_import": paused_at_import, "collecting": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def test_given_a_lambda_environment_when_the_before_snapshot_hook_ends_then_the_snapshot_collects_and_is_frozen():
    # Given a fresh interpreter with Lambda's variables, as SnapStart initializes a version
    env = {**FIRST_REQUEST_ENV, "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
           "PYTHONPATH": f"{ROOT}/lambdas:{ROOT}"}
    # When the handler is imported and the before-snapshot hook runs
    done = subprocess.run([sys.executable, "-c", _BEFORE_SNAPSHOT], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads(done.stdout.strip().splitlines()[-1])
    # Then the collector was paused at import, and runs in the snapshot, what was made frozen
    assert state["paused_at_import"] and state["collecting"] and state["frozen"] > 0
