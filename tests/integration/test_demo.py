"""`make demo` as a requester runs it: processes for moto and the simulator, then the walkthrough; two demos side
by side; a reset without a restart."""
import json
import signal
import subprocess
import sys
import time

from local.stack import ROOT, SimulatorAdmin
from tests.integration.test_tour import Demo


def test_demo_starts_seeds_and_passes_its_walkthrough():
    # Given a fresh demo on free ports; When its walkthrough runs
    result = subprocess.run(
        [sys.executable, "-m", "local.demo", "--check", "--api-port", "0", "--moto-port", "0", "--simulator-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    # Then every step answered as expected, on the walkthrough's own assignments: the demo's are as they were
    # (its printed examples still work) and the simulator's clock was not moved
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "walkthrough: 13 passed, 0 failed" in result.stdout
    assert "OK  the demo's own assignments are as they were" in result.stdout
    assert "OK  the simulator's clock was not moved" in result.stdout
    assert "OK  a rejection made on the requester website is in the audit" in result.stdout


def test_given_two_demos_on_two_ports_when_one_is_reset_then_neither_touches_the_others_files():
    # Given two demos started side by side, each on its own API port
    first, second = Demo(), Demo()
    try:
        first.wait_for_banner()
        second.wait_for_banner()
        ids = [json.loads((demo.folder / "ids.json").read_text()) for demo in (first, second)]
        # Then each keeps its files in its own folder, naming its own API
        assert first.folder != second.folder and ids[0]["submitted"] != ids[1]["submitted"]
        for demo, seeded in zip((first, second), ids):
            assert f"API={seeded['api_url']}" in (demo.folder / "env.sh").read_text()
            assert seeded["api_url"].endswith(f":{demo.port}/v1")
        # When the first is reseeded through the admin call its banner shows (no restart)
        SimulatorAdmin(ids[0]["simulator_url"]).call("POST", "/scenarios/demo/reseed")
        reseeded = _wait_for_generation(first, 2)
        # Then its files and its terminal have the new ids, and the second demo's files are as they were
        assert reseeded["submitted"] != ids[0]["submitted"]
        assert f"SUBMITTED={reseeded['submitted']}" in (first.folder / "env.sh").read_text()
        assert _eventually(lambda: any(line.startswith("-- reseeded (generation 2)") for line in first.lines))
        assert json.loads((second.folder / "ids.json").read_text()) == ids[1]
    finally:
        # And SIGTERM stops a demo within two seconds, like Ctrl-C
        seconds = [demo.stop(signal.SIGTERM) for demo in (first, second) if demo.process.poll() is None]
        for demo in (first, second):
            demo.remove_folder()
    assert all(took < 2.0 for took in seconds), seconds


def test_given_no_demo_on_a_port_when_reset_then_it_says_how_to_start_one():
    # When `make demo-reset` runs for a port where no demo runs
    result = subprocess.run([sys.executable, "-m", "local.demo", "--reset", "--api-port", "9"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    # Then exit 2 and what to do
    assert result.returncode == 2 and "No demo is running on port 9" in result.stderr
    assert "make demo" in result.stderr


def _wait_for_generation(demo: Demo, generation: int, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        seeded = json.loads((demo.folder / "ids.json").read_text())
        if seeded["generation"] >= generation or time.monotonic() > deadline:
            assert seeded["generation"] >= generation, seeded
            return seeded
        time.sleep(0.2)


def _eventually(condition, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
