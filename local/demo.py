"""`make demo`: the whole service offline, seeded, with copy-paste examples.

moto (DynamoDB, Secrets Manager, SQS, EventBridge; one request at a time, see local/moto_server.py) and the
MTurk simulator run as processes; the local API gateway, SQS triggers and schedules run here, and each
Lambda function (API, batch worker, event and notification consumers, sweep, reconciler) runs in its own
execution environments: up to `--concurrency` processes each, as Lambda would.

Everything a demo writes lives in its own folder, `.demo/<api port>/` (two demos on two ports never meet):
`env.sh` (the variables the examples use), `ids.json`, `batch-results.csv`, and the logs (`lambda.log`: the
functions' JSON logs; `demo.log`: the requests and this process's own; `moto.log`, `simulator.log`). The
terminal shows a short banner, then one line per API request.

The seeded assignments are a named scenario of the simulator (`/_admin/scenarios/demo`): `--reset` (`make
demo-reset`) or `POST /_admin/scenarios/demo/reseed` seeds it again, with new ids, without a restart; the
running demo rewrites its files and prints the new variables. `--check` runs the walkthrough and exits.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local.mturk_simulator.model import new_id
from local.stack import (
    API_FUNCTION,
    DEMO_MTURK_KEY,
    DEMO_PRINCIPAL,
    EVENTS_FUNCTION,
    NOTIFICATIONS_FUNCTION,
    RECONCILER_FUNCTION,
    ROOT,
    SWEEP_FUNCTION,
    WORKER_FUNCTION,
    LocalSchedule,
    SimulatorAdmin,
    free_port,
    lambda_environments,
    point_aws_at,
    provision,
    start_event_triggers,
    start_process,
    start_worker_trigger,
)
from local.walkthrough import call

_LOG = logging.getLogger("local.demo")  # demo.log: how the stop went
STATE_ROOT = ROOT / ".demo"
DEFAULT_API_PORT = 8787
SCENARIO = "demo"
BULK_ROWS = 600
#: Everything a demo stops must be stopped within this many seconds of Ctrl-C or SIGTERM.
STOP_BUDGET_SECONDS = 1.2
#: The seeded ids the examples use, by their shell variable.
SHELL_NAMES = {
    "submitted": "SUBMITTED", "submitted_2": "SUBMITTED_2", "submitted_3": "SUBMITTED_3",
    "rejected_recent": "REJECTED", "rejected_recent_2": "REJECTED_2", "rejected_40_days": "REJECTED_OLD",
    "rejected_disposed": "REJECTED_DISPOSED", "hit_batch": "HIT_BATCH", "hit_bulk": "HIT_BULK",
    "batch_results_csv": "CSV",
}
#: The seeded assignments of the examples and the status each has when seeded.
SEEDED_STATUS = {"submitted": "Submitted", "submitted_2": "Submitted", "submitted_3": "Submitted",
                 "rejected_recent": "Rejected", "rejected_recent_2": "Rejected", "rejected_40_days": "Rejected",
                 "rejected_disposed": "Rejected"}


def state_dir(api_port: int | str) -> Path:
    """The folder of the demo whose API listens on `api_port`."""
    return STATE_ROOT / str(api_port)


# ---- the seeded scenario ----------------------------------------------------------------------------------
def demo_scenario(hit_types: dict[str, str], bulk_rows: int = BULK_ROWS) -> dict[str, Any]:
    """A demo requester's account ($250): a batch to review, recent and old rejections, a disposed HIT, and a
    600-assignment HIT whose QA rule went wrong. Each HIT has its own HIT type (`hit_types` by HIT key), with
    MTurk notifications switched on by the demo: a reseed keeps the HIT types, so they stay on."""
    def hit(key: str, title: str, reward: str, most: int, **extra: str) -> dict[str, Any]:
        return {"key": key, "title": title, "reward": reward, "maxAssignments": most, "hitTypeId": hit_types[key],
                **extra}

    def assignment(key: str, hit_key: str, status: str, days_ago: float, worker: str) -> dict[str, Any]:
        return {"key": key, "hit": hit_key, "status": status, "submittedDaysAgo": days_ago, "workerId": worker}

    return {
        "accessKeyId": DEMO_MTURK_KEY[0], "balance": "250.00",
        "hits": [hit("hit_batch", "Label street signs (batch 1)", "0.50", 6),
                 hit("hit_old", "Transcribe receipts (last month)", "1.00", 3),
                 hit("hit_disposed", "Sentiment of tweets (disposed)", "0.25", 3, status="Disposed"),
                 hit("hit_bulk", "Classify product photos (bulk)", "0.10", bulk_rows)],
        "assignments": [
            assignment("submitted", "hit_batch", "Submitted", 0.2, "A1DEMOWORKERALICE"),
            assignment("submitted_2", "hit_batch", "Submitted", 0.3, "A2DEMOWORKERBOB"),
            assignment("submitted_3", "hit_batch", "Submitted", 0.4, "A6DEMOWORKERFRANK"),
            assignment("rejected_recent", "hit_batch", "Rejected", 2, "A3DEMOWORKERCAROL"),
            assignment("rejected_recent_2", "hit_batch", "Rejected", 10, "A1DEMOWORKERALICE"),
            assignment("rejected_40_days", "hit_old", "Rejected", 40, "A4DEMOWORKERDAN"),
            assignment("rejected_disposed", "hit_disposed", "Rejected", 5, "A5DEMOWORKEREVE"),
            *bulk_assignments("hit_bulk", bulk_rows, "BULKWORKER"),
        ],
    }


def bulk_assignments(hit_key: str, rows: int, worker_suffix: str) -> list[dict[str, Any]]:
    """Two in three rejected by a wrong QA rule, the others submitted, over the last five days."""
    return [{"hit": hit_key, "status": "Rejected" if index % 3 else "Submitted", "submittedDaysAgo": 1 + index % 5,
             "workerId": f"A{index:04d}{worker_suffix}", "feedback": "Failed QA rule 12" if index % 3 else None}
            for index in range(rows)]


def write_batch_results(path: Path, seeded: dict[str, Any], hit_key: str, title: str, reward: str) -> str:
    """The HIT's batch-results CSV as the requester website exports it: an x in Approve for most rejections
    (reversals), a Reject text for some submissions, a few rows left blank (skipped)."""
    hit_id = seeded["ids"][hit_key]
    rows = [a for a in seeded["assignments"] if a["hitId"] == hit_id]
    header = ["HITId", "HITTypeId", "Title", "Reward", "AssignmentId", "WorkerId", "AssignmentStatus",
              "SubmitTime", "Input.image_url", "Answer.category", "Approve", "Reject"]
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        for index, row in enumerate(rows):
            rejected = row["status"] == "Rejected"
            approve = "x" if rejected and index % 10 else ""
            reject = "The category does not match the photo." if not rejected and index % 2 else ""
            submitted = datetime.fromisoformat(row["submittedAt"]).astimezone(UTC)
            writer.writerow([hit_id, "", title, f"${reward}", row["assignmentId"], row["workerId"], row["status"],
                             submitted.strftime("%a %b %d %H:%M:%S UTC %Y"),
                             f"https://example.com/photos/{index}.jpg", "shoes", approve, reject])
    partial.replace(path)
    return str(path)


# ---- the demo's files -------------------------------------------------------------------------------------
def exports(api_url: str, sim_url: str, ids: dict[str, Any]) -> list[str]:
    """The `export` lines the examples need, to paste as they are (or `source` from env.sh)."""
    caller = f"export API={api_url} KEY={DEMO_PRINCIPAL.access_key_id} SECRET={DEMO_PRINCIPAL.secret_access_key} SIM={sim_url}"
    names = [f"{SHELL_NAMES[key]}={shlex.quote(str(ids[key]))}" for key in SHELL_NAMES if key in ids]
    return [caller, *(f"export {' '.join(names[i:i + 4])}" for i in range(0, len(names), 4)),
            "export MTURK_DECISIONS_API_URL=$API AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET  # the CLI's"]


def write_seed_files(folder: Path, api_url: str, sim_url: str, seeded: dict[str, Any], generation: int) -> dict:
    """ids.json, batch-results.csv and env.sh of one seed of the scenario; answers the ids."""
    ids: dict[str, Any] = dict(seeded["ids"])
    ids["batch_results_csv"] = write_batch_results(folder / "batch-results.csv", seeded, "hit_bulk",
                                                   "Classify product photos (bulk)", "0.10")
    ids.update(generation=generation, simulator_url=sim_url, api_url=api_url)
    _write(folder / "ids.json", json.dumps(ids, indent=2))
    _write(folder / "env.sh", "# The variables of the demo's examples: `source` this file.\n"
                              + "\n".join(exports(api_url, sim_url, ids)) + "\n")
    return ids


def _write(path: Path, content: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(content)
    partial.replace(path)


def read_state(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A running demo's state.json and ids.json (FileNotFoundError when there is none)."""
    return json.loads((folder / "state.json").read_text()), json.loads((folder / "ids.json").read_text())


# ---- the banner and the terminal --------------------------------------------------------------------------
SIGN = '--aws-sigv4 "aws:amz:us-east-1:execute-api" --user "$KEY:$SECRET"'
JSON = "-H 'Content-Type: application/json'"


def banner(folder: Path, ids: dict[str, Any]) -> str:
    here = os.path.relpath(folder, ROOT)
    lines = "\n".join(f"    {line}" for line in exports(ids["api_url"], ids["simulator_url"], ids))
    return f"""
mturk-decisions is running offline: API {ids['api_url']} (SigV4, execute-api, us-east-1), MTurk simulator {ids['simulator_url']}

  In another terminal, from this folder: source {here}/env.sh   (or paste:)
{lines}

  Examples (a write run twice answers 409 the second time: the assignment has changed. make demo-reset: fresh ones):
    curl -s {SIGN} {JSON} -d '{{"feedback":"The labels do not match the signs."}}' "$API/assignments/$SUBMITTED/reject"
    curl -s {SIGN} -X POST "$API/assignments/$REJECTED/reverse"
    curl -s {SIGN} -X POST "$API/assignments/$REJECTED_OLD/reverse"      # 409 REVERSAL_WINDOW_CLOSED
    curl -s {SIGN} {JSON} -d '{{"feedback":"Looks copied.","provisionalFor":"PT30S"}}' "$API/assignments/$SUBMITTED_2/reject"
    curl -s -X POST -d "{{\\"assignmentId\\":\\"$SUBMITTED_3\\",\\"feedback\\":\\"Rejected on the website.\\"}}" "$SIM/_admin/website/reject"
    curl -s {SIGN} "$API/assignments/$SUBMITTED_3"      # the website's rejection is in the audit (an MTurk notification)
    .venv/bin/mturk-decisions apply $CSV               # 600 rows: plan, confirm, progress

  The five-minute tour: README.md. Checks: make walkthrough (its own assignments: these examples keep working).
  Reset, new ids, no restart: make demo-reset  (or: curl -s -X POST $SIM/_admin/scenarios/demo/reseed)
  Logs: {here}/lambda.log (the functions), {here}/demo.log (requests), {here}/moto.log, {here}/simulator.log
  Stop: Ctrl-C. Requests:
"""


class RequestLog:
    """One line per API request in demo.log, and on the terminal for the requests made once `to_terminal()`
    has been called (the demo's own set-up requests stay above the banner, in the file only)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._terminal_since: float | None = None
        self._lock = threading.Lock()

    def to_terminal(self) -> None:
        self._terminal_since = time.monotonic()

    def __call__(self, method: str, path: str, status: int, milliseconds: float) -> None:
        started = time.monotonic() - milliseconds / 1000
        self.say(f"{datetime.now():%H:%M:%S} {method:<6} {path} {status} {milliseconds:.0f} ms",
                 terminal=self._terminal_since is not None and started >= self._terminal_since)

    def say(self, line: str, terminal: bool = True) -> None:
        with self._lock:
            self._file.write(line + "\n")
            if terminal and self._terminal_since is not None:
                print(line, flush=True)

    def close(self) -> None:
        self._file.close()


# ---- starting and stopping --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("DEMO_API_PORT", DEFAULT_API_PORT)),
                        help="the API's port, which also names the demo's folder .demo/<port>/ (0: a free one)")
    parser.add_argument("--simulator-port", type=int, default=int(os.environ.get("DEMO_SIMULATOR_PORT", "0")),
                        help="the MTurk simulator's port (default: a free one)")
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("DEMO_MOTO_PORT", "0")),
                        help="moto's port (default: a free one)")
    parser.add_argument("--concurrency", type=int, default=10,
                        help="execution environments (processes) each Lambda function may run at once")
    parser.add_argument("--check", action="store_true", help="run the walkthrough, then stop")
    parser.add_argument("--reset", action="store_true",
                        help="reseed the running demo on --api-port (new ids, no restart) and print them")
    return parser.parse_args(argv)


def start_backends(moto_url: str, sim_url: str, processes: list, folder: Path) -> None:
    """moto and the simulator as processes (appended to `processes` as they start, for the cleanup)."""
    moto_port, sim_port = moto_url.rsplit(":", 1)[1], sim_url.rsplit(":", 1)[1]
    processes.append(start_process(
        [sys.executable, "-m", "local.moto_server", "--host", "127.0.0.1", "--port", moto_port],
        f"{moto_url}/moto-api/", folder / "moto.log"))
    processes.append(start_process(
        [sys.executable, "-m", "local.mturk_simulator", "--port", sim_port,
         "--requester", f"{DEMO_MTURK_KEY[0]}:{DEMO_MTURK_KEY[1]}:250.00"],
        f"{sim_url}/_admin/clock", folder / "simulator.log"))


def function_env(env: dict[str, str], sim_url: str, lambda_log: Path | None = None) -> dict[str, str]:
    """The functions' environment: the stack's resources, the simulator as MTurk and as the service's clock."""
    return {"MTURK_INITIAL_RATE": "15", **os.environ, **env, "MTURK_ENDPOINT": sim_url, "LOCAL_CLOCK_URL": sim_url,
            "LOCAL_LAMBDA_LOG": str(lambda_log or state_dir(DEFAULT_API_PORT) / "lambda.log")}


@dataclass
class RunningService:
    """What `start_service` started, for the cleanup: the gateway, what feeds the functions, the functions."""

    gateway: Any = None
    feeders: list = field(default_factory=list)  # SQS triggers and schedules
    environments: list = field(default_factory=list)

    def stop(self) -> None:
        """Stop feeding the functions, then stop the functions (invocations under way fail: SQS redelivers
        them) and the gateway, then wait for the feeders."""
        self.stop_functions()
        self.join(deadline=time.monotonic() + 10)
        for feeder in self.feeders:
            feeder.stop()

    def stop_functions(self) -> None:
        """No more invocations: the feeders stop polling and ticking, every function's environments stop (in
        parallel), the gateway stops accepting requests."""
        for feeder in self.feeders:
            feeder.stop(wait=False)
        closing = [threading.Thread(target=environments.close, daemon=True) for environments in self.environments]
        if self.gateway is not None:
            closing.append(threading.Thread(target=self.gateway.stop, daemon=True))
        for thread in closing:
            thread.start()
        self._closing = closing

    def join(self, deadline: float) -> None:
        """Wait, until `deadline` at most, for the functions' environments and the gateway to stop. The
        feeders' threads are daemons: once the functions are gone, nothing they still do reaches them."""
        for thread in getattr(self, "_closing", []):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


def start_service(env: dict[str, str], api_port: int, concurrency: int, service: RunningService,
                  request_log: Callable[[str, str, int, float], None] | None = None) -> str:
    """Every function in its own process environments, fed by the gateway, the triggers and the schedules
    (recorded in `service` as they start). Answers the API's URL."""
    from local.gateway import LocalApiGateway

    def environments(function):
        service.environments.append(lambda_environments(function, env, concurrency))
        return service.environments[-1]

    service.gateway = LocalApiGateway(environments(API_FUNCTION), [DEMO_PRINCIPAL], port=api_port,
                                      request_log=request_log).start()
    service.feeders.append(start_worker_trigger(env, environments(WORKER_FUNCTION), concurrency, batch_size=1))
    service.feeders.extend(start_event_triggers(env, environments(EVENTS_FUNCTION),
                                                environments(NOTIFICATIONS_FUNCTION), concurrency=concurrency))
    service.feeders.append(LocalSchedule(environments(SWEEP_FUNCTION), every=2, name="reversal-sweep").start())
    service.feeders.append(LocalSchedule(environments(RECONCILER_FUNCTION), every=30, name="reconciler").start())
    return service.gateway.url


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: unwind through main's cleanup, which stops every child process."""
    raise KeyboardInterrupt


def stop_all(service: RunningService, processes: list, budget: float = STOP_BUDGET_SECONDS) -> None:
    """The functions, then moto and the simulator, within `budget` seconds: whatever has not stopped by
    then is killed (the demo's state lives in memory: nothing is lost that a restart would keep). A second
    Ctrl-C must not cut this short."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    deadline = time.monotonic() + budget
    service.stop_functions()
    for process in processes:
        if process.poll() is None:
            process.terminate()  # the functions are stopping: nothing needs the backends any more
    service.join(deadline)
    _LOG.info("stop: the functions and the gateway stopped %.2f s before the deadline", deadline - time.monotonic())
    for process in processes:
        try:
            process.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _LOG.info("stop: %s killed after the grace period", " ".join(process.args[1:3]))
            process.kill()
            process.wait()


def switch_notifications_on(api_url: str, hit_types: dict[str, str]) -> None:
    """`PUT /hit-types/{id}/notifications` for each of the demo's HIT types, as a requester does once per HIT
    type in production: MTurk then tells the service about rejections made on the requester website."""
    for hit_type in hit_types.values():
        status, answer = call(api_url, "PUT", f"/hit-types/{hit_type}/notifications", {"active": True})
        if status != 200:
            raise RuntimeError(f"switching MTurk notifications on for {hit_type} answered {status}: {answer}")


def prepare(folder: Path, sim_url: str, api_url: str, admin: SimulatorAdmin) -> tuple[dict, dict]:
    """Seed the scenario (MTurk-like limits on: bulk work paces itself); write the demo's files."""
    hit_types = {key: new_id() for key in ("hit_batch", "hit_old", "hit_disposed", "hit_bulk")}
    answer = admin.call("POST", f"/scenarios/{SCENARIO}", demo_scenario(hit_types))
    admin.call("POST", "/throttle", {"ratePerSecond": 25, "burst": 25})
    ids = write_seed_files(folder, api_url, sim_url, answer, answer["generation"])
    state = {"apiUrl": api_url, "simulatorUrl": sim_url, "pid": os.getpid(), "hitTypes": hit_types}
    return state, ids


def run(args: argparse.Namespace, folder: Path, processes: list, service: RunningService) -> int:
    """Start everything, seed, switch notifications on; then the walkthrough (`--check`) or the banner and
    the requests until Ctrl-C."""
    moto_url = f"http://127.0.0.1:{args.moto_port or free_port()}"
    sim_url = f"http://127.0.0.1:{args.simulator_port or free_port()}"
    start_backends(moto_url, sim_url, processes, folder)
    point_aws_at(moto_url)
    env = provision(moto_url, DEMO_MTURK_KEY)
    admin = SimulatorAdmin(sim_url)
    log = RequestLog(folder / "demo.log")
    api_url = start_service(function_env(env, sim_url, folder / "lambda.log"), args.api_port, args.concurrency,
                            service, request_log=log)
    state, ids = prepare(folder, sim_url, api_url, admin)
    switch_notifications_on(api_url, state["hitTypes"])
    _write(folder / "state.json", json.dumps(state, indent=2))
    if args.check:
        from local.walkthrough import walkthrough

        return walkthrough(api_url, ids, admin)
    print(banner(folder, ids), flush=True)
    log.to_terminal()
    follow_reseeds(folder, admin, ids, log)
    return 0


def follow_reseeds(folder: Path, admin: SimulatorAdmin, ids: dict[str, Any], log: RequestLog) -> None:
    """Until Ctrl-C: when the scenario has been seeded again (`make demo-reset`, the admin call), rewrite the
    demo's files for the new ids and say so."""
    generation = ids["generation"]
    while True:
        time.sleep(1.0)
        try:
            latest = admin.call("GET", f"/scenarios/{SCENARIO}?summary=true")["generation"]
            if latest == generation:
                continue
            answer = admin.call("GET", f"/scenarios/{SCENARIO}")
        except (OSError, KeyError, ValueError):
            continue
        generation = answer["generation"]
        fresh = write_seed_files(folder, ids["api_url"], ids["simulator_url"], answer, generation)
        log.say(f"-- reseeded (generation {generation}): new ids in {os.path.relpath(folder / 'env.sh', ROOT)}; "
                f"`source` it again, or paste:")
        for line in exports(ids["api_url"], ids["simulator_url"], fresh):
            log.say(f"   {line}")


def reset(api_port: int, timeout: float = 15.0) -> int:
    """`make demo-reset`: seed the running demo's scenario again (new ids; the clock back to real time) and
    print the new variables once the demo has rewritten its files."""
    folder = state_dir(api_port)
    try:
        state, _ = read_state(folder)
        admin = SimulatorAdmin(state["simulatorUrl"])
        admin.call("POST", "/clock", {"reset": True})
        generation = admin.call("POST", f"/scenarios/{SCENARIO}/reseed")["generation"]
    except (FileNotFoundError, urllib.error.URLError, ConnectionError):
        print(f"No demo is running on port {api_port} ({os.path.relpath(folder, ROOT)}): start one with `make demo` "
              f"(another port: DEMO_API_PORT={api_port} make demo-reset).", file=sys.stderr)
        return 2
    deadline = time.monotonic() + timeout
    while (ids := read_state(folder)[1])["generation"] < generation:
        if time.monotonic() > deadline:
            print(f"The demo (pid {state['pid']}) did not rewrite {folder}/ids.json: is it still running?",
                  file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"Reseeded (generation {generation}): new assignments, the same HIT types. In your other terminal:\n"
          f"  source {os.path.relpath(folder, ROOT)}/env.sh   (or paste:)")
    print("\n".join(f"  {line}" for line in exports(ids["api_url"], ids["simulator_url"], ids)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.reset:
        return reset(args.api_port)
    if not args.check:
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF records between the log lines
    args.api_port = args.api_port or free_port()
    folder = state_dir(args.api_port)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("lambda.log", "demo.log"):
        (folder / name).write_bytes(b"")
    logging.basicConfig(filename=folder / "demo.log", level=logging.INFO, force=True)
    signal.signal(signal.SIGTERM, interrupt)
    processes: list[subprocess.Popen] = []
    service = RunningService()
    code = 1
    try:
        code = run(args, folder, processes, service)
        return code
    except KeyboardInterrupt:
        code = 0
        return code
    finally:
        started = time.monotonic()
        stop_all(service, processes)
        (folder / "state.json").unlink(missing_ok=True)
        if not args.check:
            print(f"Stopped in {time.monotonic() - started:.1f} s.", flush=True)
        elif code == 0:  # a passed check leaves nothing behind; a failed one keeps its logs
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
