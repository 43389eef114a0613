"""``python -m local.mturk_simulator`` starts, serves boto3 and stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from local.mturk_simulator import MTurkSimulator, SimulatorServer
from tests.simulator.sim_helpers import make_client

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_process_serves_and_stops_on_signal(signum):
    # Given the simulator started as a process on a free port with one requester
    process = subprocess.Popen(
        [sys.executable, "-m", "local.mturk_simulator", "--port", "0", "--requester", "SIMKEYPROCESS:process-secret:7.50"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        # When boto3 calls it
        client = make_client(SimpleNamespace(url=url), key="SIMKEYPROCESS", secret="process-secret")
        assert client.get_account_balance()["AvailableBalance"] == "7.50"
        # And it is signalled
        process.send_signal(signum)
        # Then it exits cleanly
        assert process.wait(timeout=10) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_in_process_server_start_stop_and_context_manager():
    # When
    server = SimulatorServer(MTurkSimulator(), port=0).start()
    # Then
    assert server.url.startswith("http://127.0.0.1:")
    # And stopping twice is harmless, and a stopped server has no URL
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url
    # And as a context manager it serves while open
    with SimulatorServer(port=0) as again:
        assert again.url.startswith("http://127.0.0.1:")
        again.sim.add_requester("SIMKEYCTX", "ctx-secret")
        assert make_client(again, key="SIMKEYCTX", secret="ctx-secret").get_account_balance()["AvailableBalance"] == "100.00"


def test_stopped_server_no_longer_answers_clients_holding_a_connection(sim):
    # Given a client that has a keep-alive connection to a running server
    server = SimulatorServer(sim).start()
    client = make_client(server)
    client.get_account_balance()
    # When the server stops
    server.stop()
    # Then the client's next call cannot reach it
    with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
        client.get_account_balance()
