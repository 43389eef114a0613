"""The simulator's clock read from the file it is published to, by another process, as over HTTP."""
from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from local.mturk_simulator.clock import Clock, ClockFile
from local.stack import ROOT


def test_given_a_published_clock_when_it_is_set_advanced_and_reset_then_the_file_reads_the_same(tmp_path):
    # Given a clock published to a file
    clock, path = Clock(), tmp_path / "clock"
    clock.publish_to(path)
    reader = ClockFile(path)
    # When it is frozen, advanced while frozen, resumed, advanced, and reset
    frozen = reader(), clock.set(datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)), reader()
    advanced = clock.advance(days=2), reader()
    clock.resume()
    clock.advance(hours=1)
    running = reader() - (advanced[0] + timedelta(hours=1))
    clock.reset()
    reset = reader() - datetime.now(UTC)
    # Then the reader saw each state: the frozen moment to the microsecond, the offsets
    assert abs(frozen[0] - datetime.now(UTC)) < timedelta(seconds=5)
    assert frozen[2] == frozen[1] and advanced[1] == advanced[0] == frozen[1] + timedelta(days=2)
    assert timedelta() <= running < timedelta(seconds=5)
    assert abs(reset) < timedelta(seconds=5)


def test_given_a_published_clock_when_another_process_reads_it_then_it_sees_the_frozen_moment(tmp_path):
    # Given a clock frozen and published to a file
    clock, path = Clock(), tmp_path / "clock"
    clock.publish_to(path)
    moment = clock.set(datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    # When another Python process reads it
    read = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                           "from local.mturk_simulator.clock import ClockFile; print(ClockFile(Path(sys.argv[1]))().isoformat())",
                           str(path)], cwd=ROOT, capture_output=True, text=True, check=True)
    # Then it reads the same moment
    assert datetime.fromisoformat(read.stdout.strip()) == moment
