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


#: The API handler's real cold start also includes its first request: routes, models and wiring may be built
#: lazily then. This fresh interpreter imports the handler and serves one request that needs no network (a
#: reject whose body fails validation: 400), timing both together.
_FIRST_REQUEST = """
import json, time
t = time.perf_counter()
import mturk_decisions.handlers.api as module
class Context:
    function_name = "mturk-decisions-api"; function_version = "$LATEST"; memory_limit_in_mb = 512
    aws_request_id = "bench"; log_group_name = "/aws/lambda/bench"; log_stream_name = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:mturk-decisions-api"
    def get_remaining_time_in_millis(self): return 29000
identity = {"userArn": "arn:aws:iam::000000000000:user/bench", "caller": "bench", "user": "bench",
            "accountId": "000000000000", "accessKey": "BENCH", "sourceIp": "127.0.0.1", "userAgent": "bench"}
path = "/assignments/3BENCHCOLDSTART00000000000001/reject"
event = {"resource": "/{proxy+}", "path": path, "httpMethod": "POST",
         "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {"Content-Type": ["application/json"]},
         "queryStringParameters": None, "multiValueQueryStringParameters": None,
         "pathParameters": {"proxy": path[1:]}, "stageVariables": None, "body": json.dumps({"reason": "no feedback"}),
         "isBase64Encoded": False,
         "requestContext": {"accountId": "000000000000", "apiId": "bench", "httpMethod": "POST", "identity": identity,
                            "path": "/v1" + path, "protocol": "HTTP/1.1", "requestId": "bench-request",
                            "requestTimeEpoch": 0, "resourcePath": "/{proxy+}", "stage": "v1"}}
answer = module.handler(event, Context())
elapsed = time.perf_counter() - t
assert answer["statusCode"] == 400, answer
print("ELAPSED=" + repr(elapsed))
"""
FIRST_REQUEST_ENV = {
    "AUDIT_TABLE_NAME": "bench-audit", "IDEMPOTENCY_TABLE_NAME": "bench-idempotency",
    "MTURK_SECRET_ID": "bench/secret", "MTURK_ENDPOINT": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_SERVICE_NAME": "mturk-decisions", "POWERTOOLS_METRICS_NAMESPACE": "MTurkDecisions",
}


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


def first_request_seconds(env: dict[str, str]) -> float:
    done = subprocess.run([sys.executable, "-c", _FIRST_REQUEST], env={**env, **FIRST_REQUEST_ENV}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    marked = [line for line in done.stdout.splitlines() if line.startswith("ELAPSED=")]
    if done.returncode != 0 or not marked:
        raise RuntimeError(f"the API handler's first request failed:\n{done.stderr[-2000:]}")
    return float(marked[-1].split("=", 1)[1])


def measure(runs: int = 15, modules: list[str] | None = None) -> dict:
    modules = modules or handler_modules()
    everything = [BASELINE, *modules]
    first_request = f"{HANDLERS_PACKAGE}.api" in modules
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = _env(pycache)
        for module in everything:  # warm-up: compile into the private bytecode cache, untimed
            import_seconds(module, env)
        if first_request:
            first_request_seconds(env)
        samples: dict[str, list[float]] = {module: [] for module in everything}
        first: list[float] = []
        for _ in range(runs):
            for module in everything:
                samples[module].append(import_seconds(module, env))
            if first_request:
                first.append(first_request_seconds(env))
        medians = {module: statistics.median(values) for module, values in samples.items()}
        ratios = {module: medians[module] / medians[BASELINE] for module in modules}
        worst = max(modules, key=lambda module: ratios[module])
        breakdown = importtime(worst, env)
        first_breakdown = importtime_first_request(env) if first_request else []
    result = {
        "runs": runs,
        "median_seconds": medians,
        "ratios": ratios,
        "worst": worst,
        "coldstart_ratio_max": ratios[worst],
        "importtime": breakdown,
        "importtime_api_first_request": first_breakdown,
    }
    if first:
        result["api_first_request_median_seconds"] = statistics.median(first)
        result["api_first_request_ratio"] = statistics.median(first) / medians[BASELINE]
    return result


def importtime(module: str, env: dict[str, str], top: int = 15) -> list[dict]:
    """``python -X importtime -c 'import module'``: the modules with the largest cumulative time."""
    return _importtime_rows(_run(module, env, "-X", "importtime"), top)


def importtime_first_request(env: dict[str, str], top: int = 15) -> list[dict]:
    """The same for the API handler's import plus its first request (what a cold API call really loads)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _FIRST_REQUEST], env={**env, **FIRST_REQUEST_ENV},
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    return _importtime_rows(done, top)


def _importtime_rows(done: subprocess.CompletedProcess, top: int) -> list[dict]:
    rows = []
    for line in done.stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append({"module": name, "self_ms": int(self_us) / 1000, "cumulative_ms": int(cumulative_us) / 1000,
                         "depth": len(indent) // 2})
    rows.sort(key=lambda row: row["cumulative_ms"], reverse=True)
    return rows[:top]


def write_importtime(path: Path, measured: dict) -> None:
    module, rows, medians = measured["worst"], measured["importtime"], measured["median_seconds"]
    lines = [
        f"# python -X importtime -c 'import {module}'  (the slowest handler; top {len(rows)} by cumulative time)",
        f"# median import of {module}: {medians[module] * 1000:.1f} ms; import boto3: {medians[BASELINE] * 1000:.1f} ms",
        *_table(rows),
    ]
    first = measured.get("importtime_api_first_request")
    if first:
        lines += [
            "",
            f"# The API handler's import plus its first request (a reject refused by validation, no network);"
            f" top {len(first)} by cumulative time",
            f"# median: {measured['api_first_request_median_seconds'] * 1000:.1f} ms"
            f" = {measured['api_first_request_ratio']:.2f} x import boto3",
            *_table(first),
        ]
    path.write_text("\n".join(lines) + "\n")


def _table(rows: list[dict]) -> list[str]:
    lines = [f"{'cumulative ms':>14} {'self ms':>9}  module (indent = import depth)"]
    for row in rows:
        lines.append(f"{row['cumulative_ms']:14.1f} {row['self_ms']:9.1f}  {'  ' * row['depth']}{row['module']}")
    return lines
