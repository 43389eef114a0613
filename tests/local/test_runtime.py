"""Execution environments like Lambda's: separate processes, in parallel, warm, bounded, crash-tolerant."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.runtime import EnvironmentCrashed, InProcessEnvironment, InvocationError
from tests.local.conftest import alive


def invoke_together(runtime, events: list[dict]) -> tuple[list, float]:
    """Invoke with every event at once from as many threads; answers the results and the seconds taken."""
    started = time.monotonic()
    with ThreadPoolExecutor(len(events)) as pool:
        results = list(pool.map(runtime.invoke, events))
    return results, time.monotonic() - started


def test_given_ten_warm_environments_when_ten_invocations_arrive_together_then_they_run_at_once_in_ten_processes(
        environments):
    # Given
    runtime = environments("report", concurrency=10)
    assert runtime.warm(10) == 10
    # When
    results, seconds = invoke_together(runtime, [{"sleep": 0.5, "echo": n} for n in range(10)])
    # Then
    assert seconds < 2.5, f"10 invocations of 0.5 s took {seconds:.2f} s: they did not run at once"
    assert len({result["pid"] for result in results}) == 10
    assert sorted(result["echo"] for result in results) == list(range(10))
    assert runtime.stats.started == 10 and runtime.stats.invocations == 10


def test_given_a_cold_function_when_it_is_invoked_twice_then_the_second_invocation_reuses_the_warm_environment(
        environments):
    # Given
    runtime = environments("report")
    # When
    first = runtime.invoke({"echo": "first"})
    second = runtime.invoke({"echo": "second"})
    # Then
    assert second["pid"] == first["pid"]
    assert (first["invocation"], second["invocation"]) == (1, 2)
    assert first["requestId"] != second["requestId"]
    assert runtime.stats.started == 1 and runtime.stats.running == 1


def test_given_a_concurrency_of_two_when_four_invocations_arrive_then_two_wait_for_a_free_environment(environments):
    # Given
    runtime = environments("report", concurrency=2)
    runtime.warm(2)
    # When
    results, seconds = invoke_together(runtime, [{"sleep": 0.4}] * 4)
    # Then
    assert seconds >= 0.8, f"4 invocations of 0.4 s on 2 environments took only {seconds:.2f} s"
    assert len({result["pid"] for result in results}) == 2
    assert runtime.stats.started == 2


def test_given_a_handler_that_raises_when_it_is_invoked_then_the_caller_gets_an_invocation_error(environments):
    # Given
    runtime = environments("fail")
    # When
    with pytest.raises(InvocationError) as raised:
        runtime.invoke({"echo": "order 7"})
    # Then
    assert raised.value.error_type == "ValueError"
    assert raised.value.message == "cannot handle order 7"
    assert runtime.stats.crashed == 0 and runtime.stats.running == 1  # the environment stays warm


def test_given_an_environment_that_dies_mid_invocation_when_invoked_again_then_a_new_environment_answers(
        environments):
    # Given
    runtime = environments("crash")
    first_pid = runtime.invoke({})["pid"]
    # When
    with pytest.raises(EnvironmentCrashed):
        runtime.invoke({"crash": True})
    answer = runtime.invoke({})
    # Then
    assert answer["pid"] != first_pid
    assert not alive(first_pid)
    assert runtime.stats.started == 2 and runtime.stats.crashed == 1 and runtime.stats.running == 1


def test_given_a_handler_slower_than_the_timeout_when_invoked_then_it_times_out_and_the_next_invocation_works(
        environments):
    # Given
    runtime = environments("report", timeout_seconds=0.5)
    # When
    with pytest.raises(InvocationError) as raised:
        runtime.invoke({"sleep": 5})
    answer = runtime.invoke({"echo": "after"})
    # Then
    assert raised.value.error_type == "Sandbox.Timedout"
    assert answer["echo"] == "after" and 0 < answer["remainingMs"] <= 500


def test_given_a_handler_that_prints_to_stdout_when_invoked_then_the_print_goes_to_the_log_not_the_protocol(
        environments, tmp_path):
    # Given
    log = tmp_path / "lambda.log"
    runtime = environments("chatty", LOCAL_LAMBDA_LOG=str(log))
    # When
    answer = runtime.invoke({})
    # Then
    assert answer == {"printed": True}
    assert "hello from the handler" in log.read_text()


def test_given_an_invocation_when_the_handler_reads_its_context_then_it_finds_lambdas_fields(environments):
    # Given
    runtime = environments("report")
    # When
    answer = runtime.invoke({})
    # Then
    assert answer["functionName"] == "test-report"
    assert 29_000 < answer["remainingMs"] <= 30_000
    assert len(answer["requestId"]) == 36


def test_given_running_environments_when_closed_then_no_process_is_left(environments):
    # Given
    runtime = environments("report", concurrency=3)
    runtime.warm(3)
    pids = runtime.pids
    # When
    runtime.close()
    # Then
    assert len(pids) == 3
    assert not [pid for pid in pids if alive(pid)]
    with pytest.raises(RuntimeError):
        runtime.invoke({})


def test_given_an_in_process_environment_when_invoked_from_many_threads_then_invocations_run_one_at_a_time():
    # Given
    running, most = [0], [0]
    lock = threading.Lock()

    def handler(event, context):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        if event.get("fail"):
            raise KeyError("missing")
        return {"functionName": context.function_name}

    runtime = InProcessEnvironment(handler, function_name="in-process")
    # When
    results, _ = invoke_together(runtime, [{}] * 5)
    # Then
    assert most[0] == 1
    assert results == [{"functionName": "in-process"}] * 5
    with pytest.raises(InvocationError) as raised:
        runtime.invoke({"fail": True})
    assert raised.value.error_type == "KeyError"
