"""Inside an execution environment: the simulator's clock read over one kept-alive connection."""
from __future__ import annotations

from datetime import timedelta

from local.lambda_env import SimulatorClock
from local.mturk_simulator import MTurkSimulator, SimulatorServer


def test_given_the_simulators_clock_moved_a_day_when_an_environment_reads_its_clock_then_it_reads_the_simulators():
    # Given
    simulator = MTurkSimulator()
    simulator.clock.advance(days=1)
    with SimulatorServer(simulator) as server:
        clock = SimulatorClock(server.url)
        # When
        first, second = clock(), clock()
        expected = simulator.clock.now()
        connection = clock._connection
    # Then
    assert first.tzinfo is not None
    assert abs(second - expected) < timedelta(seconds=5)
    assert first <= second
    assert connection is not None  # one connection, kept for the next read


def test_given_a_kept_alive_connection_that_the_server_closed_when_the_clock_is_read_then_it_reconnects():
    # Given
    simulator = MTurkSimulator()
    with SimulatorServer(simulator) as server:
        clock = SimulatorClock(server.url)
        clock()
        clock._connection.sock.close()  # as a server that drops idle connections would
        # When
        moment = clock()
    # Then
    assert abs(moment - simulator.clock.now()) < timedelta(seconds=5)
