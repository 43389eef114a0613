"""Cold start: how long importing each Lambda handler module takes in a fresh interpreter, next to boto3.

Each measurement is one new interpreter (``python -c``) that times its own ``import <module>`` with
``time.perf_counter`` (interpreter start-up is left out: it is the same for every module). Modules are
measured round-robin (boto3, handler 1, handler 2, ...) so that drift of a shared machine hits all alike;
the figure is the median of the runs. Bytecode is cached in a private ``PYTHONPYCACHEPREFIX`` that one
untimed warm-up run per module fills first, so every timed run imports compiled bytecode (what a
deployment package with ``__pycache__`` does; see README for the no-bytecode case).
"""
from __future__ import annotations

import os
import pkgutil
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.env import LAMBDAS, ROOT

BASELINE = "boto3"
HANDLERS_PACKAGE = "mturk_decisions.handlers"
_TIMER = "import time; t = time.perf_counter(); import {module}; print(repr(time.perf_counter() - t))"
_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def handler_modules() -> list[str]:
    """Every module of mturk_decisions/handlers present now (api, batch_worker, and any added later)."""
    folder = LAMBDAS / "mturk_decisions" / "handlers"
    return sorted(f"{HANDLERS_PACKAGE}.{info.name}" for info in pkgutil.iter_modules([str(folder)])
                  if not info.name.startswith("_"))


def _env(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_ENDPOINT"))}
    env.update({"PYTHONPATH": str(LAMBDAS), "PYTHONPYCACHEPREFIX": pycache,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    return env


def _run(module: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-c", _TIMER.format(module=module)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def import_seconds(module: str, env: dict[str, str]) -> float:
    done = _run(module, env)
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 15, modules: list[str] | None = None) -> dict:
    modules = modules or handler_modules()
    everything = [BASELINE, *modules]
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = _env(pycache)
        for module in everything:  # warm-up: compile into the private bytecode cache, untimed
            import_seconds(module, env)
        samples: dict[str, list[float]] = {module: [] for module in everything}
        for _ in range(runs):
            for module in everything:
                samples[module].append(import_seconds(module, env))
        medians = {module: statistics.median(values) for module, values in samples.items()}
        ratios = {module: medians[module] / medians[BASELINE] for module in modules}
        worst = max(modules, key=lambda module: ratios[module])
        breakdown = importtime(worst, env)
    return {
        "runs": runs,
        "median_seconds": medians,
        "ratios": ratios,
        "worst": worst,
        "coldstart_ratio_max": ratios[worst],
        "importtime": breakdown,
    }


def importtime(module: str, env: dict[str, str], top: int = 15) -> list[dict]:
    """``python -X importtime -c 'import module'``: the modules with the largest cumulative time."""
    done = _run(module, env, "-X", "importtime")
    rows = []
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append({"module": name, "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative_us) / 1000,
                         "depth": len(indent) // 2})
    rows.sort(key=lambda row: row["cumulative_ms"], reverse=True)
    return rows[:top]


def write_importtime(path: Path, module: str, rows: list[dict], medians: dict[str, float]) -> None:
    lines = [
        f"# python -X importtime -c 'import {module}'  (the slowest handler; top {len(rows)} by cumulative time)",
        f"# median import of {module}: {medians[module] * 1000:.1f} ms; import boto3: {medians[BASELINE] * 1000:.1f} ms",
        f"{'cumulative ms':>14} {'self ms':>9}  module (indent = import depth)",
    ]
    for row in rows:
        lines.append(f"{row['cumulative_ms']:14.1f} {row['self_ms']:9.1f}  {'  ' * row['depth']}{row['module']}")
    path.write_text("\n".join(lines) + "\n")
