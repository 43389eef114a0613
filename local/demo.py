"""`make demo`: the whole service offline, seeded, with copy-paste examples.

moto (DynamoDB, Secrets Manager) and the MTurk simulator run as processes; the local API gateway runs
here with the real Lambda handler. `--check` runs the walkthrough against it and exits (used by tests).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from local.stack import (
    DEMO_MTURK_KEY,
    DEMO_PRINCIPAL,
    ROOT,
    SimulatorAdmin,
    free_port,
    point_aws_at,
    provision,
    remote_clock,
    LocalSchedule,
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
Stop with Ctrl-C.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("DEMO_API_PORT", "8787")))
    parser.add_argument("--simulator-port", type=int, default=int(os.environ.get("DEMO_SIMULATOR_PORT", "8799")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("DEMO_MOTO_PORT", "5055")))
    parser.add_argument("--check", action="store_true", help="run the walkthrough, then stop")
    args = parser.parse_args(argv)
    if not args.check:
        # Keep the terminal for the examples: the handler's JSON logs go on at WARNING and above.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    moto_port, sim_port = args.moto_port or free_port(), args.simulator_port or free_port()

    STATE_DIR.mkdir(exist_ok=True)
    moto_url, sim_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{sim_port}"
    processes = []
    try:
        processes.append(start_process(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
            f"{moto_url}/moto-api/", STATE_DIR / "moto.log"))
        processes.append(start_process(
            [sys.executable, "-m", "local.mturk_simulator", "--port", str(sim_port),
             "--requester", f"{DEMO_MTURK_KEY[0]}:{DEMO_MTURK_KEY[1]}:250.00"],
            f"{sim_url}/_admin/clock", STATE_DIR / "simulator.log"))
        point_aws_at(moto_url)
        env = provision(moto_url, DEMO_MTURK_KEY)
        admin = SimulatorAdmin(sim_url)
        ids = seed(admin)
        ids["simulator_url"] = sim_url
        admin.call("POST", "/throttle", {"ratePerSecond": 25, "burst": 25})  # MTurk-like limits: bulk work paces itself
        (STATE_DIR / "ids.json").write_text(json.dumps(ids, indent=2))

        from local.gateway import LocalApiGateway
        from mturk_decisions import wiring
        from mturk_decisions.config import Settings
        from mturk_decisions.handlers.api import handler

        settings = Settings.from_env({"MTURK_INITIAL_RATE": "15", **os.environ, **env, "MTURK_ENDPOINT": sim_url})
        wiring.use(wiring.build(settings, clock=remote_clock(admin)))
        gateway = LocalApiGateway(handler, [DEMO_PRINCIPAL], port=args.api_port).start()
        trigger = start_worker_trigger(env)
        event_triggers = start_event_triggers(env)
        from mturk_decisions.handlers.reconciler import handler as reconcile
        from mturk_decisions.handlers.scheduler import handler as sweep

        schedules = [LocalSchedule(sweep, every=2, name="reversal-sweep").start(),
                     LocalSchedule(reconcile, every=30, name="reconciler").start()]
        (STATE_DIR / "api_url").write_text(gateway.url)
        if args.check:
            from local.walkthrough import walkthrough

            return walkthrough(gateway.url, ids, admin)
        print(examples(gateway.url, ids), flush=True)
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        for worker in [trigger, *event_triggers, *schedules]:
            worker.stop()
        gateway.stop()
        return 0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
