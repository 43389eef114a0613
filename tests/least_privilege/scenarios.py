"""Scenarios that exercise every function of the service through its real entry, on one offline stack whose
functions run in process environments (their AWS calls recorded, see `local.lambda_env`).

The API through signed HTTP calls (every route); the batch worker through the work queue; the events
consumer through the bus (its rule → queue → trigger); the notifications consumer through MTurk's
notification (a website rejection on a HIT type with notifications on) and its queue; the sweeper and the
reconciler through `stack.environments(...)`.

Some paths run only on state a crash leaves: a decision whose MTurk call landed but whose audit record
stayed PENDING, its lease held (`leave_crashed_decision`), and a batch stored but never queued
(`leave_stranded_batch`). The test writes that state from this process (not recorded: it is the crashed
writer's), moves the simulator's clock past every lease, and lets the functions find it: a new decision on
such an assignment settles the old record first (lease and record reads, the assignment's history), the
reconciler settles what nobody touches and queues the stranded batch again.
"""
from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import boto3

from local.stack import DEMO_MTURK_KEY, REGION, OfflineStack
from tests import waiting

REQUESTER = DEMO_MTURK_KEY[0]
WAIT_SECONDS = 30.0


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    return waiting.wait_until(condition, what, timeout=timeout, every=0.1)


def sqs_event(body: str) -> dict:
    """An SQS event of one message, as Lambda's event source mapping delivers it."""
    return {"Records": [{
        "messageId": str(uuid.uuid4()), "receiptHandle": "local", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000))},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:mturk-decisions-work", "awsRegion": REGION}]}


@dataclass
class Log:
    """What each scenario did, for the report and for a failing test's message."""

    steps: list[str] = field(default_factory=list)

    def step(self, text: str) -> None:
        self.steps.append(text)


class Scenarios:
    def __init__(self, stack: OfflineStack, api: Any) -> None:
        from mturk_decisions.adapters.audit_store import DynamoAuditStore
        from mturk_decisions.adapters.batch_store import DynamoBatchStore
        from mturk_decisions.adapters.schedule_store import DynamoScheduleStore

        self.stack, self.api, self.sim = stack, api, stack.simulator
        self.audit = DynamoAuditStore.for_table(stack.env["AUDIT_TABLE_NAME"], REGION, stack.moto_url)
        self.batches = DynamoBatchStore.for_table(stack.env["BATCH_TABLE_NAME"], REGION, stack.moto_url)
        self.schedules = DynamoScheduleStore.for_table(stack.env["SCHEDULE_TABLE_NAME"], REGION, stack.moto_url)
        self.sqs = boto3.client("sqs", region_name=REGION, endpoint_url=stack.moto_url)
        self.events = boto3.client("events", region_name=REGION, endpoint_url=stack.moto_url)
        self.log = Log()
        self._first_upload: str | None = None

    # ----- helpers -----

    def seed(self, status: str = "Submitted", hit: str | None = None, days_ago: float = 2.0) -> str:
        hit = hit or self.sim.add_hit(REQUESTER, reward="0.50", max_assignments=5)
        return self.sim.add_assignment(hit, status=status, submitted_at=self.sim.clock.now() - timedelta(days=days_ago))

    def call(self, method: str, path: str, body: Any = None, expect: int | tuple[int, ...] = 200, **kwargs):
        response = self.api.request(method, path, body, **kwargs)
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status_code in expected, f"{method} {path}: {response.status_code} {response.text[:500]}"
        self.log.step(f"API {method} {path.split('?')[0]} → {response.status_code}")
        return response

    def history(self, assignment_id: str) -> list:
        return self.audit.history(assignment_id)

    def succeeded(self, assignment_id: str, action: str) -> bool:
        return any(r.action.value == action and r.state.value == "SUCCEEDED" for r in self.history(assignment_id))

    def batch_done(self, batch_id: str) -> bool:
        items = self.batches.all_items(batch_id)
        return bool(items) and all(s.status.value != "QUEUED" for s in items)

    def put_event(self, detail: dict) -> None:
        """A Reversal Requested event on the service's bus, from a source its rule admits."""
        import local.stack

        pattern = getattr(local.stack, "REVERSAL_REQUESTED_PATTERN", {})
        source = (pattern.get("source") or ["acme.qa"])[0]
        answer = self.events.put_events(Entries=[{
            "EventBusName": self.stack.env["EVENT_BUS_NAME"], "Source": source, "DetailType": "Reversal Requested",
            "Detail": json.dumps(detail)}])
        assert not answer.get("FailedEntryCount"), answer

    def leave_crashed_decision(self, assignment_id: str, feedback: str) -> None:
        """A rejection whose MTurk call landed, its writer gone before the finalize: the record PENDING, the
        lease held (until the clock moves past it)."""
        from mturk_decisions.domain.model import Action, DecisionRecord, Source
        from mturk_decisions.service.decisions import LEASE_DURATION

        state = self.sim.get_assignment_state(assignment_id)
        now = self.sim.clock.now()
        record = DecisionRecord(decision_id=str(uuid.uuid4()), assignment_id=assignment_id, hit_id=state.hit_id,
                                worker_id=state.worker_id, action=Action.REJECT, source=Source.API,
                                actor="arn:aws:iam::000000000000:user/crashed", created_at=now,
                                previous_status="Submitted", feedback=feedback)
        self.audit.write_ahead(record, now + LEASE_DURATION)
        self.sim.website_reject(assignment_id, feedback)  # what MTurk applied for it (no notification set up)

    def leave_stranded_batch(self, assignment_id: str) -> str:
        """A batch stored before its send to the work queue failed: META still marked unqueued."""
        from mturk_decisions.domain.batch import BatchItem
        from mturk_decisions.domain.batch_records import BatchInfo
        from mturk_decisions.domain.model import Action

        batch_id = uuid.uuid4().hex
        info = BatchInfo(batch_id, self.sim.clock.now(), "arn:aws:iam::000000000000:user/crashed", "json", 1)
        item = BatchItem(1, assignment_id, Action.REJECT, "stranded batch feedback")
        assert self.batches.create(info, [item], [])
        return batch_id

    # ----- the scenarios -----

    def run(self) -> Log:
        self.sim.set_balance(REQUESTER, "100.00")
        later = self.before_the_clock_moves()
        self.sim.clock.advance(hours=2)  # past every lease (16 min), the reconciler's delay and PT1H
        self.log.step("simulator clock +2 h")
        self.after_the_clock_moved(later)
        return self.log

    def before_the_clock_moves(self) -> dict[str, Any]:
        later: dict[str, Any] = {}
        # Crash leftovers, one per function that decides (and one the reconciler settles)
        for name in ("api", "worker", "events", "sweeper", "reconciler"):
            assignment_id = self.seed("Submitted")
            self.leave_crashed_decision(assignment_id, f"rejected before a crash ({name})")
            later[f"crashed-{name}"] = assignment_id
        later["stranded-item"] = self.seed("Submitted")
        later["stranded-batch"] = self.leave_stranded_batch(later["stranded-item"])
        self.log.step("state left by crashed writers: 5 PENDING decisions with leases, 1 stranded batch")

        self.api_decisions()
        later.update(self.api_schedules())
        self.api_reads()
        self.api_batches()
        self.api_uploads()
        self.worker_out_of_time()
        self.notifications()
        self.reversal_requested_events()
        return later

    def api_decisions(self) -> None:
        a = self.seed("Submitted")
        self.call("POST", f"/assignments/{a}/reject?dryRun=true", {"feedback": "dry run"})
        key = str(uuid.uuid4())
        self.call("POST", f"/assignments/{a}/reject", {"feedback": "does not follow the instructions"},
                  headers={"Idempotency-Key": key})
        self.call("POST", f"/assignments/{a}/reject", {"feedback": "does not follow the instructions"},
                  headers={"Idempotency-Key": key})  # the stored answer
        self.call("POST", f"/assignments/{a}/reverse?dryRun=true", {})
        self.call("POST", f"/assignments/{a}/reverse", {"reason": "appeal upheld"})
        # A keyed request that fails is not stored (its idempotency record is deleted)
        self.call("POST", f"/assignments/{a}/reject", {"feedback": "again"}, expect=409,
                  headers={"Idempotency-Key": str(uuid.uuid4())})
        b = self.seed("Submitted")
        self.call("POST", f"/assignments/{b}/approve?dryRun=true", {})
        self.call("POST", f"/assignments/{b}/approve", {"feedback": "thanks"})

    def api_schedules(self) -> dict[str, str]:
        confirmed, cancelled, due = self.seed(), self.seed(), self.seed()
        for assignment_id in (confirmed, cancelled, due):
            self.call("POST", f"/assignments/{assignment_id}/reject",
                      {"feedback": "provisional rejection", "provisionalFor": "PT1H"})
        self.call("POST", f"/assignments/{confirmed}/confirm")
        self.call("DELETE", f"/assignments/{cancelled}/scheduled-reversal")
        at = (self.sim.clock.now() + timedelta(minutes=30)).isoformat()
        scheduled = self.seed("Rejected")
        self.call("POST", f"/assignments/{scheduled}/reverse", {"at": at, "reason": "scheduled"}, expect=202,
                  headers={"Idempotency-Key": str(uuid.uuid4())})
        self.call("GET", "/scheduled-reversals")  # the pending ones: by-due
        self.call("GET", "/scheduled-reversals?state=CONFIRMED")  # a settled state: by-state
        return {"provisional-due": due, "scheduled": scheduled}

    def api_reads(self) -> None:
        a = self.seed("Submitted")
        self.call("POST", f"/assignments/{a}/reject", {"feedback": "for the reads"})
        state = self.sim.get_assignment_state(a)
        self.call("GET", f"/assignments/{a}")
        self.call("GET", f"/decisions?workerId={state.worker_id}")
        self.call("GET", f"/decisions?hitId={state.hit_id}")
        day = self.sim.clock.now().date().isoformat()
        self.call("GET", f"/decisions?since={day}&until={day}")  # every decision of the day: by-day

    def api_batches(self) -> None:
        hit = self.sim.add_hit(REQUESTER, reward="0.50", max_assignments=5)
        rows = [self.seed("Submitted", hit=hit) for _ in range(2)]
        items = {"items": [{"assignmentId": rows[0], "action": "reject", "feedback": "batch rejection"},
                           {"assignmentId": rows[1], "action": "approve"}]}
        self.call("POST", "/batches?dryRun=true", items)
        batch = self.call("POST", "/batches", items, expect=202,
                          headers={"Idempotency-Key": str(uuid.uuid4())}).json()["batchId"]
        csv_rows = [self.seed("Rejected", hit=hit), self.seed("Submitted", hit=hit)]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL)
        writer.writerow(["HITId", "AssignmentId", "Approve", "Reject"])
        writer.writerow([hit, csv_rows[0], "x", ""])
        writer.writerow([hit, csv_rows[1], "", "the answer is empty"])
        from_csv = self.call("POST", "/batches?reason=weekly%20review", raw=out.getvalue().encode(), expect=202,
                             headers={"Content-Type": "text/csv"}).json()["batchId"]
        reversals_hit = self.sim.add_hit(REQUESTER, reward="0.50", max_assignments=5)
        for _ in range(2):
            self.seed("Rejected", hit=reversals_hit)
        by_hit = self.call("POST", f"/hits/{reversals_hit}/reversals", {"reason": "bad gold question"},
                           expect=202).json()["batchId"]
        for batch_id in (batch, from_csv, by_hit):  # the worker, through the work queue
            wait_until(lambda batch_id=batch_id: self.batch_done(batch_id), f"batch {batch_id} processed by the worker")
        self.log.step("batch worker: 3 batches processed from the work queue")
        self.call("GET", f"/batches/{batch}")

    def api_uploads(self) -> None:
        """An uploaded CSV: the API presigns its PUT, S3 announces it, the parser plans it; the API shows the plan
        and applies it (the worker does the rest). A second upload is not a CSV: the parser refuses it."""
        import requests

        hit = self.sim.add_hit(REQUESTER, reward="0.50", max_assignments=5)
        rows = [self.seed("Submitted", hit=hit), self.seed("Rejected", hit=hit)]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["HITId", "AssignmentId", "Answer.essay", "Approve", "Reject"])
        writer.writerows([[hit, rows[0], "a long answer " * 50, "", "off topic"], [hit, rows[1], "fine", "x", ""]])
        for data, expected in ((out.getvalue().encode(), "PLANNED"), (b"PK\x03\x04 not a csv", "INVALID")):
            created = self.call("POST", "/batches/uploads", {"reason": "uploaded"}, expect=201).json()
            put = requests.put(created["upload"]["url"], data=data, headers={"Content-Type": "text/csv"}, timeout=30)
            assert put.status_code == 200, put.text
            self.record_presigned_put(created["upload"]["url"])
            batch_id = created["batchId"]
            wait_until(lambda batch_id=batch_id, expected=expected:
                       self.call("GET", f"/batches/{batch_id}/plan").json()["status"] == expected,
                       f"the upload {expected}")
        self.call("GET", f"/batches/{batch_id}/plan?outcome=reject")
        self.call("POST", f"/batches/{batch_id}/apply", expect=400)  # the INVALID one
        self.log.step("parser: an uploaded CSV planned, a ZIP refused")
        first = self._first_upload
        self.call("POST", f"/batches/{first}/apply", expect=202, headers={"Idempotency-Key": str(uuid.uuid4())})
        wait_until(lambda: self.batch_done(first), "the uploaded batch applied by the worker")

    def record_presigned_put(self, url: str) -> None:
        """S3 authorizes a presigned request as the principal that signed it: the PUT the requester made is
        the API role's `s3:PutObject`, recorded with the API's calls (the API presigns without calling S3)."""
        from urllib.parse import unquote, urlsplit

        from local.stack import API_FUNCTION

        bucket, _, key = unquote(urlsplit(url).path).lstrip("/").partition("/")
        if self._first_upload is None:
            self._first_upload = key.rsplit("/", 1)[-1].removesuffix(".csv")
        directory = (self.stack.function_env(API_FUNCTION) if self.stack.function_env else {}).get("LOCAL_AWS_CALL_LOG")
        if directory:
            line = {"service": "s3", "operation": "PutObject", "params": {"Bucket": bucket, "Key": key},
                    "region": REGION, "pid": 0, "at": time.time()}
            with open(f"{directory}/{API_FUNCTION.name}.jsonl", "a") as log:
                log.write(json.dumps(line) + "\n")

    def worker_out_of_time(self) -> None:
        """An invocation with less time left than the worker's margin hands its chunk back to the queue as a
        new message (the continuation), which the worker then processes from the queue."""
        from dataclasses import replace

        from local.stack import WORKER_FUNCTION
        from mturk_decisions.adapters.work_queue import Chunk
        from mturk_decisions.domain.batch import BatchItem
        from mturk_decisions.domain.batch_records import BatchInfo
        from mturk_decisions.domain.model import Action
        from mturk_decisions.service import batches

        margin = getattr(batches, "TIME_MARGIN_SECONDS", None)
        if margin is None:  # no continuation in this version of the worker
            self.log.step("batch worker: no time margin in this version, continuation not exercised")
            return
        batch_id = uuid.uuid4().hex
        info = BatchInfo(batch_id, self.sim.clock.now(), "arn:aws:iam::000000000000:user/demo-requester", "json", 2)
        items = [BatchItem(line, self.seed("Submitted"), Action.REJECT, "out of time") for line in (1, 2)]
        assert self.batches.create(info, items, [])
        self.batches.mark_queued(batch_id)  # its chunk is the message delivered below
        short = replace(WORKER_FUNCTION, timeout_seconds=max(5.0, margin / 2))  # the worker, near its timeout
        worker = self.stack.environments(short, concurrency=1)
        worker.invoke(sqs_event(Chunk(batch_id, None, [1, 2]).to_json()))
        self.log.step(f"batch worker invoked with {short.timeout_seconds:.0f} s left: one item done, the rest "
                      "handed back to the queue")
        wait_until(lambda: self.batch_done(batch_id), "the continuation processed from the work queue")

    def notifications(self) -> None:
        hit = self.sim.add_hit(REQUESTER, reward="0.50", max_assignments=5)
        website, own = self.seed("Submitted", hit=hit), self.seed("Submitted", hit=hit)
        hit_type = self.sim.get_hit_state(hit).hit_type_id
        self.call("PUT", f"/hit-types/{hit_type}/notifications", {"active": True})
        self.sim.website_reject(website, "rejected on the website")
        self.log.step("simulator: website rejection on a HIT type with notifications on")
        wait_until(lambda: self.succeeded(website, "reject"), "the website rejection recorded from its notification")
        self.call("POST", f"/assignments/{own}/reject", {"feedback": "the service's own rejection"})
        malformed = self.sqs.send_message(QueueUrl=self.stack.env["NOTIFICATIONS_QUEUE_URL"], MessageBody="{not json")
        self.log.step("a malformed message on the notifications queue")
        dlq = self.stack.env["NOTIFICATIONS_DLQ_URL"]
        wait_until(lambda: self._queue_depth(dlq) >= 1, "the malformed notification dead-lettered")
        assert malformed["MessageId"]

    def reversal_requested_events(self) -> None:
        rejected = self.seed("Rejected")
        self.put_event({"assignmentId": rejected, "reason": "QA rule was wrong", "requester": "qa-bot"})
        hit = self.sim.add_hit(REQUESTER, reward="0.50", max_assignments=5)
        of_hit = [self.seed("Rejected", hit=hit) for _ in range(2)]
        self.put_event({"hitId": hit, "reason": "the whole HIT was misjudged"})
        self.put_event({"assignmentId": rejected, "unexpected": "field"})  # malformed → the events DLQ
        self.log.step("bus: Reversal Requested for an assignment, for a HIT, and a malformed one")
        wait_until(lambda: self.succeeded(rejected, "reverse"), "the requested reversal")
        wait_until(lambda: self._queue_depth(self.stack.env["EVENTS_DLQ_URL"]) >= 1,
                   "the malformed event dead-lettered")
        wait_until(lambda: all(self.sim.get_assignment_state(a).status == "Approved" for a in of_hit),
                   "the HIT's reversals (a batch queued by the events consumer, applied by the worker)")
        # Funds: a reversal refused for funds is retried on a schedule; a second request finds it waiting
        poor = self.seed("Rejected")
        self.sim.set_balance(REQUESTER, "0.00")
        try:
            self.put_event({"assignmentId": poor, "reason": "funds retry"})
            wait_until(lambda: self.schedules.get(poor), "the funds-retry schedule")
            self.put_event({"assignmentId": poor, "reason": "funds retry, asked again"})
            wait_until(lambda: self._queue_depth(self.stack.env["REVERSAL_REQUESTS_QUEUE_URL"], in_flight=True) == 0,
                       "the second funds request consumed")
        finally:
            self.sim.set_balance(REQUESTER, "100.00")
        self.log.step("bus: two reversals refused for funds (a funds-retry schedule, then found waiting)")

    def _queue_depth(self, url: str, in_flight: bool = False) -> int:
        names = ["ApproximateNumberOfMessages"] + (["ApproximateNumberOfMessagesNotVisible"] if in_flight else [])
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)

    def after_the_clock_moved(self, later: dict[str, Any]) -> None:
        # API: a reversal of an assignment whose earlier decision crashed (its record is settled first)
        self.call("POST", f"/assignments/{later['crashed-api']}/reverse", {"reason": "after a crash"})
        # The worker: a batch item on such an assignment
        batch = self.call("POST", "/batches", {"items": [{"assignmentId": later["crashed-worker"], "action": "reverse",
                                                          "reason": "after a crash"}]}, expect=202).json()["batchId"]
        wait_until(lambda: self.batch_done(batch), "the batch on a crashed decision")
        # The events consumer: a requested reversal of such an assignment
        self.put_event({"assignmentId": later["crashed-events"], "reason": "after a crash"})
        wait_until(lambda: self.succeeded(later["crashed-events"], "reverse"), "the requested reversal after a crash")
        # The sweeper: the due provisional rejection, and the scheduled reversal of an assignment whose
        # earlier decision crashed (scheduled now, due in 30 minutes: the clock is then moved past it)
        crashed = later["crashed-sweeper"]
        at = (self.sim.clock.now() + timedelta(minutes=30)).isoformat()
        self.call("POST", f"/assignments/{crashed}/reverse", {"at": at, "reason": "scheduled after a crash"},
                  expect=202)
        self.sim.clock.advance(hours=1)
        self.log.step("simulator clock +1 h")
        sweeper = self.stack.environments("mturk_decisions.handlers.scheduler:handler", concurrency=1)
        report = sweeper.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})
        self.log.step(f"sweeper: {report}")
        for assignment_id in (later["provisional-due"], later["scheduled"], crashed):
            assert self.succeeded(assignment_id, "reverse"), (assignment_id, report)
        # The reconciler: the crashed decision nobody touched, and the stranded batch
        reconciler = self.stack.environments("mturk_decisions.handlers.reconciler:handler", concurrency=1)
        summary = reconciler.invoke({"source": "aws.events", "detail-type": "Scheduled Event"})
        self.log.step(f"reconciler: {summary}")
        assert summary["succeeded"] >= 1 and summary["batchesRequeued"] == 1, summary
        wait_until(lambda: self.batch_done(later["stranded-batch"]), "the requeued batch")
        self.log.step("batch worker: the requeued batch processed")
