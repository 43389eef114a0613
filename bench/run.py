"""``python -m bench [--quick]``: every benchmark in one run, a table on stdout, bench/results.json.

Ratios are measured side by side in one run; absolute times on a shared machine are noise.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.env import ROOT, prepare

HERE = Path(__file__).resolve().parent
#: figure -> (goal, "max" if the figure must stay at or under the goal, "min" if at or over)
GOALS = {
    "coldstart_ratio_max": (1.5, "max"),
    # The API's cold start with its first request, and its first real reject cold and after a SnapStart restore,
    # each / a bare boto3 script in a fresh interpreter (bench/coldstart.py: first_events)
    "coldstart_api_first_request_ratio": (1.5, "max"),
    "coldstart_first_decision_ratio": (1.5, "max"),
    "restored_first_decision_ratio": (0.8, "max"),
    "bulk_fraction_of_rate": (0.9, "min"),
    "bulk_mturk_calls_per_decision": (1.05, "max"),
    "bulk_fraction_of_rate_latency150": (0.9, "min"),
    "bulk_mturk_calls_per_decision_latency150": (1.05, "max"),
    "bulk_fraction_of_rate_r50_latency250": (0.9, "min"),
    "bulk_mturk_calls_per_decision_r50_latency250": (1.05, "max"),
    "api_overhead_ratio": (3.0, "max"),
    # A 100,000-row, >= 100 MB batch-results CSV uploaded, parsed and planned (bench/upload.py)
    "csv_upload_plan_seconds": (60.0, "max"),
    "csv_upload_parser_peak_rss_mb": (256.0, "max"),
    # GET /batches/{id}: a 100,000-item batch / a 1,000-item one (bench/batch_status.py)
    "batch_status_cost_ratio": (1.5, "max"),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke test: 400 reversals, fewer runs")
    parser.add_argument("--rate", type=float, default=20.0, help="simulator throttle R, req/s (burst R); default 20")
    parser.add_argument("--latency", type=float, default=0.020,
                        help="simulator added latency of the bulk workload, s; default 0.020")
    parser.add_argument("--api-latency", type=float, default=0.150,
                        help="MTurk latency of the API overhead figure, s; default 0.150 (a real call from Lambda "
                             "takes 100-250 ms); 20 ms and 0 are reported beside it")
    parser.add_argument("--hits", type=int, default=4, help="HITs of the bulk workload; default 4")
    parser.add_argument("--per-hit", type=int, default=None, help="Rejected assignments per HIT; default 500 (quick 100)")
    parser.add_argument("--naive-count", type=int, default=None,
                        help="decisions of the naive loop; default the bulk workload's")
    parser.add_argument("--coldstart-runs", type=int, default=None, help="runs per module; default 15 (quick 10)")
    parser.add_argument("--api-samples", type=int, default=None, help="API overhead samples; default 60 (quick 20)")
    parser.add_argument("--only", choices=("coldstart", "bulk", "api", "upload", "status"), action="append",
                        help="run only these parts (repeatable); their figures replace theirs in --out, the "
                             "others' are kept")
    parser.add_argument("--upload-rows", type=int, default=None,
                        help="rows of the uploaded CSV; default 100,000 (quick 10,000)")
    parser.add_argument("--status-samples", type=int, default=None,
                        help="GET /batches/{id} samples per batch size; default 30 (quick 10)")
    parser.add_argument("--keep-nagle", action="store_true",
                        help="leave Nagle's algorithm on in the local servers (see README: a 40 ms test-rig stall)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare()
    parts = set(args.only or ("coldstart", "bulk", "api", "upload", "status"))
    per_hit = args.per_hit or (100 if args.quick else 500)
    runs = args.coldstart_runs or (10 if args.quick else 15)
    samples = args.api_samples or (20 if args.quick else 60)
    naive_total = args.naive_count or args.hits * per_hit
    results: dict = {}
    details: dict = {}
    began = time.monotonic()

    if "coldstart" in parts:
        from bench import coldstart

        print(f"cold start: {runs} fresh interpreters per module ...", file=sys.stderr, flush=True)
        cold = coldstart.measure(runs=runs)
        results["coldstart_ratio_max"] = cold["coldstart_ratio_max"]
        results["coldstart_worst_handler"] = cold["worst"]
        for module, ratio in cold["ratios"].items():
            results[f"coldstart_ratio.{module.rsplit('.', 1)[-1]}"] = ratio
        if "api_first_request_ratio" in cold:
            results["coldstart_api_first_request_ratio"] = cold["api_first_request_ratio"]
        results["coldstart_boto3_median_ms"] = cold["median_seconds"]["boto3"] * 1000
        print(f"first events: {runs} fresh interpreters each, MTurk latency {args.api_latency * 1000:g} ms ...",
              file=sys.stderr, flush=True)
        cold["first_events"] = coldstart.first_events(runs=runs, latency=args.api_latency)
        results.update(coldstart.first_event_figures(cold["first_events"]))
        details["coldstart"] = cold
        coldstart.write_importtime(HERE / "importtime.txt", cold)

    if parts & {"bulk", "api", "upload", "status"}:
        if not args.keep_nagle:
            _no_nagle()
        log_path = Path(tempfile.gettempdir()) / "mturk-decisions-bench.log"
        with open(log_path, "w") as log, contextlib.redirect_stdout(log):
            _service_benchmarks(args, parts, per_hit, naive_total, samples, results, details)
        print(f"(service logs of this run: {log_path})", file=sys.stderr)

    results["parameters"] = {
        "rate_per_second": args.rate,
        "burst": args.rate,
        "latency_seconds": args.latency,
        "api_latency_seconds": args.api_latency,
        "bulk_hits": args.hits,
        "bulk_per_hit": per_hit,
        "bulk_decisions": args.hits * per_hit,
        "naive_decisions": naive_total,
        "coldstart_runs": runs,
        "api_samples": samples,
        "quick": args.quick,
        "nagle_disabled_in_local_servers": not args.keep_nagle,
        "parts": sorted(parts),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - began, 1),
    }
    results["details"] = details
    if args.only and args.out.exists():
        results = _merged(json.loads(args.out.read_text()), results)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    print(f"\nwrote {_relative(args.out)}" + (f" and {_relative(HERE / 'importtime.txt')}" if "coldstart" in parts else ""))
    return 0


def _merged(earlier: dict, run: dict) -> dict:
    """A partial run's figures over an earlier full run's: the other parts' figures and details are kept, and
    `parameters` says which parts ran when."""
    figures = {k: v for k, v in earlier.items() if k not in ("parameters", "details")}
    figures.update({k: v for k, v in run.items() if k not in ("parameters", "details")})
    parameters = {**earlier.get("parameters", {}), "partial_runs": {
        **earlier.get("parameters", {}).get("partial_runs", {}),
        ",".join(run["parameters"]["parts"]): {k: run["parameters"][k] for k in ("date", "seconds", "python")}}}
    return {**figures, "parameters": parameters, "details": {**earlier.get("details", {}), **run["details"]}}


def _no_nagle() -> None:
    """TCP_NODELAY on every http.server/werkzeug server of this process (simulator, local gateway, moto).

    They write a response's headers and body in two sends; with Nagle on, the body waits for the
    client's delayed ACK, ~40 ms per call on Linux whenever calls follow each other closely. Real MTurk,
    API Gateway and DynamoDB do not stall like that; the simulator's latency knob models the network.
    """
    import socketserver

    socketserver.StreamRequestHandler.disable_nagle_algorithm = True


def _quiet_servers() -> None:
    import logging

    for name in ("werkzeug", "local.mturk_simulator.server"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _service_benchmarks(args, parts, per_hit, naive_total, samples, results, details) -> None:
    from bench import api_overhead, bulk
    from bench.counting import DynamoDBWriteCounter
    from local.stack import DEMO_PRINCIPAL, OfflineStack
    from tests.integration.conftest import SignedApi

    _quiet_servers()
    # Every function in its own execution environments (processes), as in Lambda: the worker's threads do
    # not share an interpreter with moto and the simulator. Writes are counted where they arrive: at moto.
    counter = DynamoDBWriteCounter()
    with OfflineStack(concurrency=2) as stack:
        counter.observe_moto(stack.moto)
        api = SignedApi(stack.gateway.url, DEMO_PRINCIPAL.access_key_id, DEMO_PRINCIPAL.secret_access_key)
        if "api" in parts:
            print(f"api overhead: {samples} rejects each way ...", file=sys.stderr, flush=True)
            overhead = api_overhead.run(stack, api, counter, samples, args.api_latency)
            fast = api_overhead.run(stack, api, counter, samples, 0.020)
            zero = api_overhead.run(stack, api, counter, samples, 0.0)
            results["api_overhead_ratio"] = overhead["ratio"]
            results["api_overhead_ratio_latency20"] = fast["ratio"]
            results["api_overhead_ratio_zero_latency"] = zero["ratio"]
            details["api_overhead"] = overhead
            details["api_overhead_latency20"] = fast
            details["api_overhead_zero_latency"] = zero
        if "bulk" in parts:
            workload = bulk.Workload(args.hits, per_hit, args.rate, args.latency)
            print(f"bulk: {workload.total} reversals at R={args.rate:g}/s ...", file=sys.stderr, flush=True)
            measured = bulk.run_bulk(stack, api, counter, workload)
            results["bulk_fraction_of_rate"] = measured["fraction_of_rate"]
            results["bulk_mturk_calls_per_decision"] = measured["mturk_calls_per_decision"]
            results["bulk_dynamodb_writes_per_decision"] = measured["dynamodb_writes_per_decision"]
            results["bulk_succeeded"] = measured["succeeded"]
            results["bulk_throttled_calls"] = measured["mturk_throttled"]
            results["bulk_longest_write_gap_seconds"] = measured["write_gaps"]["longest_seconds"][0]
            details["bulk"] = measured
            _realistic_bulk(stack, api, counter, args, per_hit, results, details)
            hits = max(1, naive_total // per_hit)
            naive_load = bulk.Workload(hits, naive_total // hits, args.rate, args.latency)
            print(f"naive: {naive_load.total} reversals at R={args.rate:g}/s ...", file=sys.stderr, flush=True)
            naive = bulk.run_naive(stack, naive_load)
            results["naive_fraction_of_rate"] = naive["fraction_of_rate"]
            results["naive_mturk_calls_per_decision"] = naive["mturk_calls_per_decision"]
            results["naive_succeeded"] = naive["succeeded"]
            details["naive"] = naive
        if "upload" in parts:
            _upload(stack, api, args, results, details)
        if "status" in parts:
            _batch_status(stack, api, counter, args, results, details)


def _upload(stack, api, args, results: dict, details: dict) -> None:
    from bench import upload

    rows = args.upload_rows or (10_000 if args.quick else upload.ROWS)
    min_bytes = upload.MIN_BYTES * rows // upload.ROWS
    print(f"upload: a {rows}-row, {min_bytes / 1_048_576:.0f}+ MB batch-results CSV, planned by the parser ...",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="mturk-decisions-upload-") as workdir:
        measured = upload.run(stack, api, Path(workdir), rows=rows, min_bytes=min_bytes)
    results["csv_upload_rows_per_second"] = measured["rows_per_second"]
    results["csv_upload_plan_seconds"] = measured["plan_seconds"]
    results["csv_upload_parser_peak_rss_mb"] = measured["parser_peak_rss_mb"]
    results["csv_upload_megabytes"] = measured["megabytes"]
    details["upload"] = measured


def _batch_status(stack, api, counter, args, results: dict, details: dict) -> None:
    from bench import batch_status

    samples = args.status_samples or (10 if args.quick else 30)
    print(f"batch status: GET /batches/{{id}} of a {batch_status.BIG:,}-item and a {batch_status.SMALL:,}-item batch, "
          f"{samples} samples each ...", file=sys.stderr, flush=True)
    measured = batch_status.run(stack, api, counter, samples)
    results["batch_status_cost_ratio"] = measured["ratio"]
    results["batch_status_big_median_ms"] = measured["big_median_ms"]
    calls = {size: sum(measured["dynamodb_calls_per_read"][size].values()) for size in ("big", "small")}
    results["batch_status_dynamodb_calls_big_vs_small"] = f"{calls['big']} / {calls['small']}"
    details["batch_status"] = measured


#: Realistic MTurk latency (a call from Lambda takes 100-250 ms) at two rate ceilings: (name, R, latency).
REALISTIC_BULK = (("latency150", 20.0, 0.150), ("r50_latency250", 50.0, 0.250))


def _realistic_bulk(stack, api, counter, args, per_hit: int, results: dict, details: dict) -> None:
    from bench import bulk

    for name, rate, latency in REALISTIC_BULK:
        workload = bulk.Workload(args.hits, per_hit, rate, latency)
        print(f"bulk: {workload.total} reversals at R={rate:g}/s, {latency * 1000:g} ms per call ...",
              file=sys.stderr, flush=True)
        measured = bulk.run_bulk(stack, api, counter, workload)
        results[f"bulk_fraction_of_rate_{name}"] = measured["fraction_of_rate"]
        results[f"bulk_mturk_calls_per_decision_{name}"] = measured["mturk_calls_per_decision"]
        results[f"bulk_throttled_calls_{name}"] = measured["mturk_throttled"]
        results[f"bulk_longest_write_gap_seconds_{name}"] = measured["write_gaps"]["longest_seconds"][0]
        details[f"bulk_{name}"] = measured


def table(results: dict) -> str:
    rows = [("figure", "value", "goal", "")]
    for name, value in results.items():
        if name in ("parameters", "details"):
            continue
        goal = GOALS.get(name)
        verdict = ""
        if goal and isinstance(value, (int, float)):
            limit, kind = goal
            verdict = "ok" if (value <= limit if kind == "max" else value >= limit) else "MISSED"
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        rows.append((name, shown, "" if not goal else f"{'<=' if goal[1] == 'max' else '>='} {goal[0]:g}", verdict))
    parameters = results["parameters"]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    lines.append(f"R={parameters['rate_per_second']:g}/s burst {parameters['burst']:g}, latency "
                 f"{parameters['latency_seconds'] * 1000:g} ms, bulk {parameters['bulk_decisions']} "
                 f"({parameters['bulk_hits']} HITs), naive {parameters['naive_decisions']}, cold-start runs "
                 f"{parameters['coldstart_runs']}, API samples {parameters['api_samples']}, Python "
                 f"{parameters['python']}, {parameters['date']}, {parameters['seconds']} s")
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
