"""`make demo`: the whole service offline, seeded, with copy-paste examples.

moto (DynamoDB, Secrets Manager, SQS, EventBridge; one request at a time, see local/moto_server.py) and the
MTurk simulator run as processes; the local API gateway, SQS triggers and schedules run here, and each
Lambda function (API, batch worker, event and notification consumers, sweep, reconciler) runs in its own
execution environments: up to `--concurrency` processes each, as Lambda would. Their logs go to
.demo/lambda.log. `--check` runs the walkthrough against it and exits (used by tests).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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

STATE_DIR = ROOT / ".demo"


def seed(admin: SimulatorAdmin) -> dict[str, str]:
    """A demo requester's account: a batch to review, recent and old rejections, a disposed HIT."""
    now = admin.now()
    key = DEMO_MTURK_KEY[0]

    def hit(title: str, reward: str = "0.50", max_assignments: int = 5) -> str:
        return admin.call("POST", "/hits", {"accessKeyId": key, "title": title, "reward": reward,
                                            "maxAssignments": max_assignments})["hitId"]

    def assignment(hit_id: str, status: str, days_ago: float, worker: str) -> str:
        return admin.call("POST", "/assignments", {
            "hitId": hit_id, "status": status, "workerId": worker,
            "submittedAt": (now - timedelta(days=days_ago)).isoformat(),
        })["assignmentId"]

    batch = hit("Label street signs (batch 1)")
    old = hit("Transcribe receipts (last month)", reward="1.00", max_assignments=3)
    disposed = hit("Sentiment of tweets (disposed)", reward="0.25", max_assignments=3)
    ids = {
        "hit_batch": batch,
        "hit_old": old,
        "hit_disposed": disposed,
        "submitted": assignment(batch, "Submitted", 0.2, "A1DEMOWORKERALICE"),
        "submitted_2": assignment(batch, "Submitted", 0.3, "A2DEMOWORKERBOB"),
        "rejected_recent": assignment(batch, "Rejected", 2, "A3DEMOWORKERCAROL"),
        "rejected_recent_2": assignment(batch, "Rejected", 10, "A1DEMOWORKERALICE"),
        "rejected_40_days": assignment(old, "Rejected", 40, "A4DEMOWORKERDAN"),
        "rejected_disposed": assignment(disposed, "Rejected", 5, "A5DEMOWORKEREVE"),
    }
    admin.call("POST", f"/hits/{disposed}/status", {"status": "Disposed"})
    ids["hit_bulk"], ids["batch_results_csv"] = seed_bulk_batch(admin, now)
    return ids


def seed_bulk_batch(admin: SimulatorAdmin, now: datetime, rows: int = 600) -> tuple[str, str]:
    """A 600-assignment HIT whose QA rule went wrong, and its batch-results CSV as the website exports it:
    most rejections get an x in Approve (reversals), some submissions a Reject text, a few are left blank."""
    key = DEMO_MTURK_KEY[0]
    hit_id = admin.call("POST", "/hits", {"accessKeyId": key, "title": "Classify product photos (bulk)",
                                          "reward": "0.10", "maxAssignments": rows})["hitId"]
    path = STATE_DIR / "batch-results.csv"
    header = ["HITId", "HITTypeId", "Title", "Reward", "AssignmentId", "WorkerId", "AssignmentStatus",
              "SubmitTime", "Input.image_url", "Answer.category", "Approve", "Reject"]
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        for index in range(rows):
            status = "Rejected" if index % 3 else "Submitted"
            submitted = now - timedelta(days=1 + index % 5)
            assignment_id = admin.call("POST", "/assignments", {
                "hitId": hit_id, "status": status, "workerId": f"A{index:04d}BULKWORKER",
                "submittedAt": submitted.isoformat(), "feedback": "Failed QA rule 12" if status == "Rejected" else None,
            })["assignmentId"]
            approve = "x" if status == "Rejected" and index % 10 else ""
            reject = "The category does not match the photo." if status == "Submitted" and index % 2 else ""
            writer.writerow([hit_id, "", "Classify product photos (bulk)", "$0.10", assignment_id,
                             f"A{index:04d}BULKWORKER", status, submitted.strftime("%a %b %d %H:%M:%S UTC %Y"),
                             f"https://example.com/photos/{index}.jpg", "shoes", approve, reject])
    return hit_id, str(path)


def examples(api_url: str, ids: dict[str, str]) -> str:
    auth = f'--aws-sigv4 "aws:amz:us-east-1:execute-api" --user "{DEMO_PRINCIPAL.access_key_id}:{DEMO_PRINCIPAL.secret_access_key}"'
    return f"""
mturk-decisions is running offline.
  API (SigV4, service execute-api, region us-east-1): {api_url}
  Demo caller key: {DEMO_PRINCIPAL.access_key_id} / {DEMO_PRINCIPAL.secret_access_key}
  Seeded ids: {STATE_DIR / 'ids.json'}

Reject a submitted assignment (the worker sees the feedback; the reason stays in the audit):
  curl -s {auth} -H 'Content-Type: application/json' \\
    -d '{{"feedback":"The labels do not match the signs.","reason":"QA rule 7"}}' \\
    {api_url}/assignments/{ids['submitted']}/reject

Dry-run, then reverse a recent rejection:
  curl -s {auth} -X POST '{api_url}/assignments/{ids['rejected_recent']}/reverse?dryRun=true'
  curl -s {auth} -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' \\
    -d '{{"reason":"bad QA rule"}}' {api_url}/assignments/{ids['rejected_recent']}/reverse

A 40-day-old rejection is refused with its deadline (409):
  curl -s {auth} -X POST {api_url}/assignments/{ids['rejected_40_days']}/reverse

Unsigned requests get 403:
  curl -s -X POST {api_url}/assignments/{ids['submitted']}/reject

A provisional rejection, reversed automatically unless confirmed (the sweep runs every 2 s here);
move the simulator's clock past the grace period to see it happen:
  curl -s {auth} -H 'Content-Type: application/json' \
    -d '{{"feedback":"Looks copied.","provisionalFor":"PT1H"}}' {api_url}/assignments/{ids['submitted_2']}/reject
  curl -s -X POST -d '{{"advanceSeconds":3700}}' {ids['simulator_url']}/_admin/clock
  curl -s {auth} {api_url}/assignments/{ids['submitted_2']}

The assignment and its audit history; the audit of a worker:
  curl -s {auth} {api_url}/assignments/{ids['rejected_recent']}
  curl -s {auth} '{api_url}/decisions?workerId=A1DEMOWORKERALICE'

Fix a whole batch with the requester CLI (600 rows; the CLI signs with the standard AWS credential chain):
  export MTURK_DECISIONS_API_URL={api_url}
  export AWS_ACCESS_KEY_ID={DEMO_PRINCIPAL.access_key_id} AWS_SECRET_ACCESS_KEY={DEMO_PRINCIPAL.secret_access_key}
  .venv/bin/mturk-decisions apply {ids['batch_results_csv']}
  .venv/bin/mturk-decisions history --hit {ids['hit_bulk']}

Or run the whole walkthrough: .venv/bin/python -m local.walkthrough
The functions' logs: {STATE_DIR / 'lambda.log'}
Stop with Ctrl-C.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("DEMO_API_PORT", "8787")))
    parser.add_argument("--simulator-port", type=int, default=int(os.environ.get("DEMO_SIMULATOR_PORT", "8799")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("DEMO_MOTO_PORT", "5055")))
    parser.add_argument("--concurrency", type=int, default=10,
                        help="execution environments (processes) each Lambda function may run at once")
    parser.add_argument("--check", action="store_true", help="run the walkthrough, then stop")
    return parser.parse_args(argv)


def start_backends(moto_url: str, sim_url: str, processes: list) -> None:
    """moto and the simulator as processes (appended to `processes` as they start, for the cleanup)."""
    moto_port, sim_port = moto_url.rsplit(":", 1)[1], sim_url.rsplit(":", 1)[1]
    processes.append(start_process(
        [sys.executable, "-m", "local.moto_server", "--host", "127.0.0.1", "--port", moto_port],
        f"{moto_url}/moto-api/", STATE_DIR / "moto.log"))
    processes.append(start_process(
        [sys.executable, "-m", "local.mturk_simulator", "--port", sim_port,
         "--requester", f"{DEMO_MTURK_KEY[0]}:{DEMO_MTURK_KEY[1]}:250.00"],
        f"{sim_url}/_admin/clock", STATE_DIR / "simulator.log"))


def function_env(env: dict[str, str], sim_url: str) -> dict[str, str]:
    """The functions' environment: the stack's resources, the simulator as MTurk and as the service's clock."""
    return {"MTURK_INITIAL_RATE": "15", **os.environ, **env, "MTURK_ENDPOINT": sim_url, "LOCAL_CLOCK_URL": sim_url,
            "LOCAL_LAMBDA_LOG": str(STATE_DIR / "lambda.log")}


@dataclass
class RunningService:
    """What `start_service` started, for the cleanup: the gateway, what feeds the functions, the functions."""

    gateway: Any = None
    feeders: list = field(default_factory=list)  # SQS triggers and schedules
    environments: list = field(default_factory=list)

    def stop(self) -> None:
        """Stop feeding the functions, then stop the functions (invocations under way fail: SQS redelivers
        them), then wait for the feeders and stop the gateway."""
        for feeder in self.feeders:
            feeder.stop(wait=False)
        for environments in self.environments:
            environments.close()
        for feeder in self.feeders:
            feeder.stop()
        if self.gateway is not None:
            self.gateway.stop()


def start_service(env: dict[str, str], api_port: int, concurrency: int, service: RunningService) -> str:
    """Every function in its own process environments, fed by the gateway, the triggers and the schedules
    (recorded in `service` as they start). Answers the API's URL."""
    from local.gateway import LocalApiGateway

    def environments(function):
        service.environments.append(lambda_environments(function, env, concurrency))
        return service.environments[-1]

    service.gateway = LocalApiGateway(environments(API_FUNCTION), [DEMO_PRINCIPAL], port=api_port).start()
    service.feeders.append(start_worker_trigger(env, environments(WORKER_FUNCTION), concurrency, batch_size=1))
    service.feeders.extend(start_event_triggers(env, environments(EVENTS_FUNCTION),
                                                environments(NOTIFICATIONS_FUNCTION), concurrency=concurrency))
    service.feeders.append(LocalSchedule(environments(SWEEP_FUNCTION), every=2, name="reversal-sweep").start())
    service.feeders.append(LocalSchedule(environments(RECONCILER_FUNCTION), every=30, name="reconciler").start())
    return service.gateway.url


def interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: unwind through main's cleanup, which stops every child process."""
    raise KeyboardInterrupt


def stop_all(service: RunningService, processes: list) -> None:
    """The service, then moto and the simulator. A second Ctrl-C must not cut this short."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    service.stop()
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.check:
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF records between the log lines
    signal.signal(signal.SIGTERM, interrupt)
    moto_port, sim_port = args.moto_port or free_port(), args.simulator_port or free_port()
    STATE_DIR.mkdir(exist_ok=True)
    (STATE_DIR / "lambda.log").write_bytes(b"")
    moto_url, sim_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{sim_port}"
    processes: list[subprocess.Popen] = []
    service = RunningService()
    try:
        start_backends(moto_url, sim_url, processes)
        point_aws_at(moto_url)
        env = provision(moto_url, DEMO_MTURK_KEY)
        admin = SimulatorAdmin(sim_url)
        ids = seed(admin)
        ids["simulator_url"] = sim_url
        admin.call("POST", "/throttle", {"ratePerSecond": 25, "burst": 25})  # MTurk-like limits: bulk work paces itself
        (STATE_DIR / "ids.json").write_text(json.dumps(ids, indent=2))
        api_url = start_service(function_env(env, sim_url), args.api_port, args.concurrency, service)
        (STATE_DIR / "api_url").write_text(api_url)
        if args.check:
            from local.walkthrough import walkthrough

            return walkthrough(api_url, ids, admin)
        print(examples(api_url, ids), flush=True)
        threading.Event().wait()  # until Ctrl-C or SIGTERM
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(service, processes)


if __name__ == "__main__":
    sys.exit(main())
