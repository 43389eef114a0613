"""`make demo` as a requester runs it: processes for moto and the simulator, then the walkthrough."""
import subprocess
import sys

from local.stack import ROOT


def test_demo_starts_seeds_and_passes_its_walkthrough():
    # Given a fresh demo on free ports; When its walkthrough runs
    result = subprocess.run(
        [sys.executable, "-m", "local.demo", "--check", "--api-port", "0", "--moto-port", "0", "--simulator-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    # Then every step answered as the README says
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "walkthrough: 9 passed, 0 failed" in result.stdout
