"""The README's five-minute tour, as a newcomer runs it: against a fresh `make demo`, twice in a row (the tour
ends with `make demo-reset`), every step answers what the README shows.

The tour is the README's text between `<!-- tour:begin -->` and `<!-- tour:end -->`: in its ```console blocks,
a line starting with `$ ` is a command (continued by lines ending in `\\`), the lines after it are its output.
Each command runs in bash from the project folder with the demo's variables sourced (`.demo/<port>/env.sh`).
Outputs are compared by shape: ids, times, ports and whitespace are normalized; `…` in a README line stands
for any text, a line that is only `…` for any lines. A command marked `# a few seconds later` is retried
until its output matches (what happens in the background takes a moment).

`python -m tests.integration.test_tour` prints what each step prints now (to update the README).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.stack import DEMO_MTURK_KEY, ROOT, free_port

README = ROOT / "README.md"
TOUR = re.compile(r"<!-- tour:begin.*?-->(.*?)<!-- tour:end -->", re.S)
CONSOLE = re.compile(r"```console\n(.*?)```", re.S)
LATER = "# a few seconds later"
#: What differs between two runs of the same step, and how it reads after normalizing.
VARYING = [
    (re.compile(r"\b[0-9a-f]{40}\b"), "<HEX>"),
    (re.compile(r"\b[0-9a-f]{32}\b"), "<HEX>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<UUID>"),
    (re.compile(r"\b3[0-9A-Z]{29}\b"), "<ID>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z?"), "<TIME>"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<PORT>"),
    (re.compile(r"\.demo/\d+/"), ".demo/<PORT>/"),
    (re.compile(r"\s+"), ""),
]
REQUEST_LINE = re.compile(r"^\d\d:\d\d:\d\d (GET|POST|PUT|DELETE) +/v1/\S+ \d{3} \d+ ms$")


@dataclass
class Step:
    command: str
    expected: list[str]

    @property
    def later(self) -> bool:
        return LATER in self.command


def tour_steps(readme: str | None = None) -> list[Step]:
    """The tour's commands and the output the README shows for each."""
    match = TOUR.search(readme if readme is not None else README.read_text())
    assert match, "README.md has no <!-- tour:begin --> ... <!-- tour:end --> section"
    steps: list[Step] = []
    for block in CONSOLE.findall(match.group(1)):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            assert lines[index].startswith("$ "), f"a console block line that is neither a command nor output: {lines[index]!r}"
            command = [lines[index][2:]]
            while command[-1].endswith("\\"):
                index += 1
                command.append(lines[index])
            index += 1
            output = []
            while index < len(lines) and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            steps.append(Step("\n".join(command), output))
    return steps


def normalize(line: str) -> str:
    for pattern, replacement in VARYING:
        line = pattern.sub(replacement, line)
    return line


def same_shape(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` has the shape of `expected`: line by line after normalizing; `…` in an expected line is
    any text, an expected line that is only `…` any number of lines."""
    patterns = [None if line.strip() == "…" else
                re.compile(".*".join(re.escape(normalize(part)) for part in line.split("…")) + r"\Z")
                for line in expected]
    actual = [normalize(line) for line in actual if line.strip()]
    patterns = [p for p, line in zip(patterns, expected) if line.strip()]

    def match(i: int, j: int) -> bool:
        if i == len(patterns):
            return j == len(actual)
        if patterns[i] is None:
            return any(match(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and bool(patterns[i].match(actual[j])) and match(i + 1, j + 1)

    return match(0, 0)


class Demo:
    """`python -m local.demo` on free ports, as `make demo` starts it; its terminal collected line by line."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = ROOT / ".demo" / str(self.port)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.demo", "--api-port", str(self.port)], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy())
        self._banner = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip().startswith("Stop: Ctrl-C"):
                self._banner.set()
        self._banner.set()

    def wait_for_banner(self, timeout: float = 120) -> None:
        assert self._banner.wait(timeout) and self.process.poll() is None, "\n".join(self.lines[-40:])

    @property
    def banner_end(self) -> int:
        """The index of the banner's last line (`Stop: Ctrl-C. Requests:`)."""
        return next(i for i, line in enumerate(self.lines) if line.strip().startswith("Stop: Ctrl-C"))

    def shell(self, command: str) -> subprocess.CompletedProcess:
        """One tour command in bash, from the project folder, with the demo's variables sourced."""
        command = command.replace(".demo/8787/", f".demo/{self.port}/").replace(
            "make demo-reset", f"{sys.executable} -m local.demo --reset")
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("AWS_", "MTURK_DECISIONS_"))}
        env.update(COLUMNS="100", NO_COLOR="1", DEMO_API_PORT=str(self.port), PATH=f"{ROOT / '.venv' / 'bin'}:{env['PATH']}")
        script = f"set -o pipefail\nsource .demo/{self.port}/env.sh\n{command}"
        return subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    def stop(self, signum: int = signal.SIGINT) -> float:
        """Ctrl-C (or `signum`); answers the seconds until the demo and everything it started have stopped."""
        started = time.monotonic()
        self.process.send_signal(signum)
        self.process.wait(timeout=30)
        seconds = time.monotonic() - started
        self._reader.join(timeout=10)
        return seconds

    def remove_folder(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def run_step(demo: Demo, step: Step) -> tuple[bool, list[str]]:
    """Run one step (`make demo`: the banner the running demo printed) and compare its output."""
    if step.command == "make demo":
        banner = demo.lines[:demo.banner_end + 1]
        return same_shape(step.expected, banner), banner
    deadline = time.monotonic() + (30 if step.later else 0)
    while True:
        result = demo.shell(step.command)
        actual = result.stdout.splitlines()
        if same_shape(step.expected, actual) or time.monotonic() > deadline:
            return same_shape(step.expected, actual), actual + ["[stderr] " + line for line in result.stderr.splitlines()]
        time.sleep(1)


@pytest.fixture(scope="module")
def demo():
    running = Demo()
    try:
        running.wait_for_banner()
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()
        running.remove_folder()


def test_the_readme_tour_has_steps_and_each_shows_its_output():
    # Given the README
    # When / Then its tour has the demo's commands, each with the output it prints
    steps = tour_steps()
    assert len(steps) >= 8
    assert [step.command for step in steps[:2]] == ["make demo", "source .demo/8787/env.sh"]
    assert steps[-1].command == "make demo-reset"
    assert all(step.expected for step in steps[2:]), [step.command for step in steps if not step.expected]


def test_given_a_fresh_demo_when_the_tour_runs_twice_then_every_step_answers_as_the_readme_shows(demo):
    # Given the README's tour and a fresh `make demo`
    steps = tour_steps()
    # When a newcomer runs it, then runs it again (the tour ends with `make demo-reset`: fresh ids)
    for run in (1, 2):
        for step in steps:
            ok, actual = run_step(demo, step)
            # Then every step prints what the README shows
            assert ok, f"run {run}: `{step.command}` printed:\n" + "\n".join(actual) + \
                "\n\nthe README shows:\n" + "\n".join(step.expected)
            assert DEMO_MTURK_KEY[1] not in "\n".join(actual)
    # And the demo's terminal holds its banner, then one line per request (the logs are in files)
    after = [line for line in demo.lines[demo.banner_end + 1:]
             if line.strip() and not line.startswith(("-- reseeded", "   export"))]
    assert after and all(REQUEST_LINE.match(line) for line in after), "\n".join(after[:20])
    assert len(demo.lines[:demo.banner_end]) <= 30
    assert DEMO_MTURK_KEY[1] not in "\n".join(demo.lines)


def test_given_the_banner_when_its_examples_are_pasted_as_they_are_then_each_answers(demo):
    # Given the examples the banner printed (after the tour's reset: fresh assignments)
    examples = [line.strip() for line in demo.lines[:demo.banner_end]
                if line.strip().startswith(("curl ", ".venv/bin/mturk-decisions"))]
    assert len(examples) >= 6
    answers = {}
    for line in examples:
        command = line.split("  #")[0]
        if "mturk-decisions apply" in command:
            command += " --dry-run"  # the real one asks first
        # When each is pasted as it is, in order
        result = demo.shell(command)
        answers[command] = result.stdout
        # Then each answers (JSON from curl, the plan from the CLI), and never with the MTurk secret
        assert result.returncode == 0 and result.stdout.strip(), (command, result.stdout, result.stderr)
        assert DEMO_MTURK_KEY[1] not in result.stdout + result.stderr
    replies = list(answers.values())
    assert '"state":"SUCCEEDED"' in replies[0] and '"status":"Approved"' in replies[1]
    assert "REVERSAL_WINDOW_CLOSED" in replies[2] and '"kind":"provisional"' in replies[3]
    assert '"AssignmentStatus":"Rejected"' in replies[4] and "Plan for batch-results.csv" in replies[-1]


def test_given_the_demo_when_ctrl_c_then_everything_stops_within_two_seconds(demo):
    # Given the demo after the tour (its functions' environments warm); When Ctrl-C reaches it
    children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(demo.process.pid)], capture_output=True,
                              text=True).stdout.split()
    seconds = demo.stop(signal.SIGINT)
    # Then it and every process it started are gone within 2 s, and its folder says no demo runs there
    alive = [pid for pid in children if _running(pid)]
    assert seconds < 2.0 and not alive, (seconds, alive, demo.lines[-5:])
    assert not (demo.folder / "state.json").exists()
    print(f"Ctrl-C stopped the demo in {seconds:.2f} s")


def _running(pid: str) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


if __name__ == "__main__":  # print what each step prints now, to update the README
    running = Demo()
    try:
        running.wait_for_banner()
        for each in tour_steps():
            ok, printed = run_step(running, each)
            print(f"{'OK ' if ok else 'DIFF'} $ {each.command}\n" + "\n".join(printed) + "\n")
    finally:
        print(f"stopped in {running.stop():.2f} s")
