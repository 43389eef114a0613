"""Fixtures: a fresh simulator (clock frozen at T0) with one funded requester, served over HTTP."""

from __future__ import annotations

import pytest
from botocore.config import Config

from local.mturk_simulator import MTurkSimulator, SimulatorServer
from tests.simulator.sim_helpers import KEY, NO_RETRIES, SECRET, T0, make_client


@pytest.fixture
def sim() -> MTurkSimulator:
    simulator = MTurkSimulator()
    simulator.clock.set(T0)
    simulator.add_requester(KEY, SECRET, balance="100.00", name="Requester A")
    return simulator


@pytest.fixture
def server(sim):
    with SimulatorServer(sim) as running:
        yield running


@pytest.fixture
def mturk(server):
    return make_client(server)


@pytest.fixture
def unvalidated(server):
    """A boto3 client that skips client-side validation, so the server's own is exercised."""
    return make_client(server, config=NO_RETRIES.merge(Config(parameter_validation=False)))
