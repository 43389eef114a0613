"""Batch-results CSVs of any size: uploaded to S3, parsed and planned in the parser, applied like any batch.

    POST /batches/uploads      → AWAITING_UPLOAD, a presigned PUT URL (15 minutes, Content-Type text/csv)
    (the requester PUTs the CSV; S3 → the uploads queue → the parser: `receive`)
                               → PARSING → INVALID (its errors: the first 200 and their count; nothing stored)
                                         → PLANNED (every row stored with its planned outcome)
    GET  /batches/{id}/plan    → the plan: totals and cost against the balance now, items by page
    POST /batches/{id}/apply   → QUEUED, then RUNNING and COMPLETED: the same chunks and worker as POST /batches

The parser reads the CSV from S3 as a stream, twice, and holds one line at a time (`ResultsCsvStream`):
- pass 1 validates every row exactly as POST /batches does (line-numbered errors, skipped rows, duplicates)
  and keeps each assignment id once, grouped by HIT; a bad file ends here, INVALID, with nothing written;
- MTurk's view of every assignment is read by HIT page (100 a call, as `BatchService._read_views`), and
  only what the plan needs is kept of it (status, submission time, worker; reward and fee per HIT);
- pass 2 (the same object, by its ETag) plans each row with `BatchService.plan_item` (the dry run's rules)
  and writes it, 25 to a BatchWriteItem, as it is read; then the chunks, as items of the batch.
So memory grows with the number of assignments (a few hundred bytes each), never with the file, and the plan
of 100,000 rows is stored by the time the batch is PLANNED: GET .../plan reads a page of it (and the
balance), whatever the batch's size, instead of re-reading 1,000 HIT pages within API Gateway's 29 seconds.
"""
from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from mturk_decisions.adapters.upload_store import UploadChanged, UploadMissing, UploadObject
from mturk_decisions.domain import rules
from mturk_decisions.domain.batch import (
    MAX_UPLOAD_ITEMS,
    BatchItem,
    BatchNotFound,
    BatchNotReady,
    InvalidBatch,
    ItemStatus,
    ResultsCsvStream,
    SkippedRow,
    not_text,
)
from mturk_decisions.domain.batch_records import BatchInfo, PlannedEntry, UploadInfo, UploadPhase
from mturk_decisions.domain.errors import DecisionError, InvalidRequest, NotConfigured
from mturk_decisions.domain.model import AssignmentView
from mturk_decisions.service.batches import BatchService, BatchSummary, PlannedItem, chunks_of_lines
from mturk_decisions.service.decisions import utc_now

if TYPE_CHECKING:
    from mturk_decisions.adapters.batch_store import DynamoBatchStore
    from mturk_decisions.adapters.upload_store import S3Uploads
    from mturk_decisions.service.ports import MTurkGateway

#: The largest CSV an upload may be (checked when it arrives: a presigned PUT cannot cap the size itself).
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
#: How long the presigned PUT URL is valid.
UPLOAD_URL_SECONDS = 15 * 60
CSV_CONTENT_TYPE = "text/csv"
KEY_PREFIX = "uploads/"
ORIGIN = "csv-upload"
#: A batch PARSING for longer than the parser's timeout was left by a parser that died: another takes over.
PARSER_TIMEOUT = timedelta(minutes=15)
#: MTurk statuses read per HIT page while planning (Approved too: those rows are planned as "skip" without a
#: lookup of their own).
PLANNING_STATUSES = ["Submitted", "Approved", "Rejected"]
_KEY = re.compile(r"uploads/([a-f0-9]{32})\.csv")
_OUTCOMES = ("reject", "reverse", "approve", "refused")


@dataclass(frozen=True)
class UploadTicket:
    batch_id: str
    url: str
    expires_at: datetime
    max_bytes: int


@dataclass(frozen=True)
class UploadPlan:
    """An uploaded batch and, once PLANNED, one page of its plan (with the balance now)."""

    info: BatchInfo
    upload: UploadInfo
    entries: list[PlannedEntry] = field(default_factory=list)
    next_line: int | None = None
    balance: Decimal | None = None

    @property
    def state(self) -> str:
        """AWAITING_UPLOAD, PARSING, INVALID, PLANNED; once applied QUEUED, RUNNING, COMPLETED (GET /batches/{id})."""
        return BatchSummary(self.info, dict(self.info.counts or {})).state


@dataclass(frozen=True)
class Applied:
    info: BatchInfo
    queued: int
    skipped: int
    state: str


def key_of(batch_id: str) -> str:
    return f"{KEY_PREFIX}{batch_id}.csv"


def batch_id_of(key: str) -> str | None:
    """The batch an object key (as S3 events give it: URL-encoded) belongs to; None for any other key."""
    match = _KEY.fullmatch(unquote_plus(key))
    return match.group(1) if match else None


#: A HIT's reward, size, status and HIT type; an assignment's status, submission time, worker and HIT.
_HitFacts = tuple[Decimal, int, str, str | None]
_AssignmentFacts = tuple[str, datetime | None, str, str]


class _Facts:
    """What the plan needs of MTurk's view of each assignment, compactly: per HIT its reward, size and status,
    per assignment its status, submission time and worker (a few hundred bytes each, not a whole view).

    Filled HIT by HIT by a reader thread while pass 2 plans and writes the rows (`wait` blocks until a row's
    HIT is read): reading MTurk and writing DynamoDB overlap."""

    def __init__(self, hits: list[str | None]) -> None:
        self.hits: dict[str, _HitFacts] = {}
        self.assignments: dict[str, _AssignmentFacts | None] = {}
        self._ready = {hit: threading.Event() for hit in hits}
        self.error: BaseException | None = None
        self.waited = 0.0  # seconds the planning spent waiting for the reader (MTurk is the bottleneck if large)
        self.stopped = threading.Event()  # the planning stopped: the reader need not go on

    def add(self, view: AssignmentView) -> None:
        self.hits.setdefault(view.hit_id, (view.reward, view.max_assignments, view.hit_status, view.hit_type_id))
        self.assignments[view.assignment_id] = (sys_intern(view.status), view.submitted_at,
                                                sys_intern(view.worker_id), view.hit_id)

    def missing(self, assignment_id: str) -> None:
        self.assignments[assignment_id] = None

    def __contains__(self, assignment_id: str) -> bool:
        return assignment_id in self.assignments

    def ready(self, hit_id: str | None) -> None:
        self._ready[hit_id].set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        for event in self._ready.values():
            event.set()

    def wait(self, hit_id: str | None) -> None:
        """Until the reader has read `hit_id`'s assignments (raises what stopped it)."""
        ready = self._ready[hit_id]
        if not ready.is_set():
            began = time.monotonic()
            ready.wait()
            self.waited += time.monotonic() - began
        if self.error is not None:
            raise self.error

    def view(self, assignment_id: str) -> AssignmentView | None:
        known = self.assignments.get(assignment_id)
        if known is None:
            return None
        status, submitted_at, worker_id, hit_id = known
        reward, max_assignments, hit_status, hit_type_id = self.hits[hit_id]
        return AssignmentView(assignment_id, hit_id, worker_id, status, submitted_at, reward, max_assignments,
                              hit_status, hit_type_id=hit_type_id)


def sys_intern(value: str) -> str:
    """One string object for the statuses and workers many assignments share."""
    return sys.intern(value)


@dataclass
class _Totals:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reward: Decimal = Decimal("0")
    fee: Decimal = Decimal("0")

    def add(self, outcome: str, reward: Decimal | None = None, fee: Decimal | None = None) -> None:
        self.counts["skipped" if outcome == "skip" else outcome] += 1
        self.reward += reward or 0
        self.fee += fee or 0

    def to_json(self, balance: Decimal) -> dict[str, Any]:
        return {**{name: self.counts.get(name, 0) for name in (*_OUTCOMES, "skipped")},
                "reward": str(self.reward), "fee": str(self.fee), "balanceWhenPlanned": str(balance)}


def totals_json(stored: dict[str, Any], balance: Decimal) -> dict[str, Any]:
    """The stored totals against `balance`, in the dry run's shape (BatchPlan.totals)."""
    reward, fee = Decimal(stored.get("reward", "0")), Decimal(stored.get("fee", "0"))
    total = reward + fee
    return {**{name: int(stored.get(name, 0)) for name in (*_OUTCOMES, "skipped")},
            "cost": {"reward": str(reward), "fee": str(fee), "total": str(total)},
            "balance": str(balance), "balanceAfter": str(balance - total), "sufficientFunds": total <= balance}


class UploadService:
    def __init__(self, store: DynamoBatchStore, objects: S3Uploads, batches: BatchService, mturk: MTurkGateway,
                 clock: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex, can_queue: bool = True,
                 max_bytes: int = MAX_UPLOAD_BYTES, max_items: int = MAX_UPLOAD_ITEMS) -> None:
        """`batches`: the BatchService whose rules plan each row (`plan_item`) and whose queue takes the
        chunks of an applied batch (`enqueue`; `can_queue=False` in the parser, which never applies)."""
        self._store, self._objects, self._batches, self._mturk = store, objects, batches, mturk
        self._clock, self._new_id, self._can_queue = clock, new_id, can_queue
        self.max_bytes, self.max_items = max_bytes, max_items

    # ----- in the API -----

    def create(self, actor: str, reason: str | None, content_length: int | None,
               batch_id: str | None = None) -> UploadTicket:
        """A batch AWAITING_UPLOAD and the URL its CSV is PUT to. With a `batch_id` (from an Idempotency-Key)
        that exists, a fresh URL for the same batch."""
        reason = rules.validate_reason(reason)
        if content_length is not None and not 0 < content_length <= self.max_bytes:
            raise InvalidRequest(_size_problem(content_length, self.max_bytes), field="contentLength",
                                 maxBytes=self.max_bytes)
        batch_id = batch_id or self._new_id()
        now = self._clock()
        expires_at = now + timedelta(seconds=UPLOAD_URL_SECONDS)
        info = BatchInfo(batch_id, now, actor, ORIGIN, 0)
        self._store.create_upload(info, UploadInfo(key_of(batch_id), expires_at, self.max_bytes, reason))
        url = self._objects.presign_put(key_of(batch_id), CSV_CONTENT_TYPE, UPLOAD_URL_SECONDS)
        return UploadTicket(batch_id, url, expires_at, self.max_bytes)

    def plan(self, batch_id: str, after_line: int, limit: int, outcome: str | None = None) -> UploadPlan:
        info, upload = self._uploaded(batch_id)
        if info.phase in (UploadPhase.AWAITING_UPLOAD.value, UploadPhase.PARSING.value, UploadPhase.INVALID.value):
            return UploadPlan(info, upload)
        entries, next_line = self._store.plan_page(batch_id, after_line, limit, outcome)
        return UploadPlan(info, upload, entries, next_line, self._mturk.get_balance())

    def apply(self, batch_id: str) -> Applied:
        """Queue a PLANNED batch's chunks (once: a second apply answers the batch as it is)."""
        info, upload = self._uploaded(batch_id)
        if info.phase in (UploadPhase.AWAITING_UPLOAD.value, UploadPhase.PARSING.value):
            raise BatchNotReady(f"Batch {batch_id} is {info.phase}: it can be applied once it is PLANNED. Follow it "
                                f"with GET /batches/{batch_id}/plan.", batchId=batch_id, state=info.phase,
                                retryAfterSeconds=5)
        if info.phase == UploadPhase.INVALID.value:
            problems = upload.problems
            raise InvalidBatch(problems.get("message", f"Batch {batch_id} is INVALID."), batchId=batch_id,
                               errors=problems.get("errors", []), errorCount=problems.get("errorCount"))
        if info.phase == UploadPhase.PLANNED.value:
            if not self._can_queue:
                raise NotConfigured("Applying an uploaded batch needs WORK_QUEUE_URL in the function's environment.")
            if self._store.begin_apply(batch_id, self._clock()):
                self._batches.enqueue(batch_id, self._store.chunks(batch_id))
            info = self._store.info(batch_id)
        summary = self._batches.summary(batch_id)
        return Applied(info, summary.queued, summary.by_status.get(ItemStatus.SKIPPED, 0), summary.state)

    def _uploaded(self, batch_id: str) -> tuple[BatchInfo, UploadInfo]:
        info, upload = self._store.upload(batch_id)
        if upload is None:
            raise BatchNotFound(f"Batch {batch_id} was not uploaded (POST /batches/uploads): it has no stored plan. "
                                f"See it with GET /batches/{batch_id}.", batchId=batch_id)
        return info, upload

    # ----- in the parser -----

    def receive(self, bucket: str, key: str, size: int) -> str:
        """One object created in the upload bucket: parse and plan its batch, once. Answers what happened
        (planned, invalid, or why it was ignored). Raises what is worth retrying (MTurk, DynamoDB)."""
        batch_id = batch_id_of(key)
        if bucket != self._objects.bucket or batch_id is None:
            return "ignored: not an upload of this service"
        now = self._clock()
        try:
            if not self._store.begin_parse(batch_id, size, now, now - PARSER_TIMEOUT):
                return "ignored: not awaiting an upload (parsed or being parsed already, or no such batch)"
            info, upload = self._uploaded(batch_id)
        except BatchNotFound:
            return "ignored: no such uploaded batch"
        timings: dict[str, float] = {}
        try:
            self._parse_and_plan(info, upload, size, timings)
        except InvalidBatch as refused:
            self._store.mark_invalid(batch_id, _problems(refused), self._clock())
            return "invalid"
        return "planned in " + ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in timings.items())

    def give_up(self, key: str, error: Exception) -> None:
        """The last attempt failed (the message goes to the DLQ next): the batch becomes INVALID, saying why."""
        batch_id = batch_id_of(key)
        if batch_id is not None:
            code = getattr(error, "code", type(error).__name__)
            message = (f"The upload could not be parsed and planned ({code}: {getattr(error, 'message', error)}); "
                       "nothing was queued. Upload it again (POST /batches/uploads).")
            self._store.mark_invalid(batch_id, {"message": message, "errors": [], "errorCount": 0}, self._clock())

    def _parse_and_plan(self, info: BatchInfo, upload: UploadInfo, size: int, timings: dict[str, float]) -> None:
        if size > self.max_bytes or size <= 0:
            raise InvalidBatch(_size_problem(size, self.max_bytes), errors=[
                {"field": "upload", "message": _size_problem(size, self.max_bytes)}], size=size,
                maxBytes=self.max_bytes)
        started = time.monotonic()
        hits, etag = self._validate(upload)
        timings["validating"] = time.monotonic() - started
        facts = _Facts(list(hits))
        reader = threading.Thread(target=self._read_facts, args=(hits, facts), name="mturk-reader", daemon=True)
        reader.start()
        try:
            self._store_plan(info, upload, facts, etag)
        finally:
            facts.stopped.set()
            reader.join()
        timings["reading MTurk, planning and writing"] = time.monotonic() - started - timings["validating"]
        timings["of which waiting for MTurk"] = facts.waited

    def _open(self, upload: UploadInfo, etag: str | None = None) -> UploadObject:
        try:
            return self._objects.open(upload.key, if_match=etag)
        except UploadMissing:
            raise InvalidBatch("The uploaded CSV is gone (uploads expire after 7 days): upload it again.",
                               errors=[{"field": "upload", "message": "object not found"}]) from None
        except UploadChanged:
            raise InvalidBatch("The uploaded CSV was replaced while it was read (two PUTs to the same URL): "
                               "upload it again, once.", errors=[{"field": "upload", "message": "replaced"}]) from None

    def _validate(self, upload: UploadInfo) -> tuple[dict[str | None, list[str]], str]:
        """Pass 1: every row checked, nothing written; each assignment id once, grouped by HIT. Answers them
        and the ETag of the version read (pass 2 reads that version or none)."""
        found = self._open(upload)
        try:
            if found.size > self.max_bytes:
                raise InvalidBatch(_size_problem(found.size, self.max_bytes), errors=[
                    {"field": "upload", "message": _size_problem(found.size, self.max_bytes)}])
            if found.content_type != CSV_CONTENT_TYPE:
                raise _not_csv(f"it was uploaded as {found.content_type or 'no content type'!r}, not text/csv")
            stream = ResultsCsvStream(found.read, upload.reason, self.max_items)
            what = not_text(stream.peek())
            if what:
                raise _not_csv(f"it is {what}")
            hits: dict[str | None, list[str]] = defaultdict(list)
            for row in stream:
                if isinstance(row, BatchItem):
                    hits[row.hit_id].append(row.assignment_id)
            stream.raise_if_any()
        finally:
            found.close()
        if not stream.items:
            raise InvalidBatch("Every row was skipped: mark Approve with x or fill in Reject.", errors=[])
        return hits, found.etag

    def _read_facts(self, hits: dict[str | None, list[str]], facts: _Facts) -> None:
        """MTurk's view of every assignment, HIT by HIT in the order the rows need them: a HIT's pages, then one by
        one those its pages did not have (and the rows without a HIT id, last). Runs in its own thread."""
        try:
            for hit_id, assignment_ids in hits.items():
                if facts.stopped.is_set():
                    return
                if hit_id is not None:
                    self._read_hit(hit_id, set(assignment_ids), facts)
                for assignment_id in assignment_ids:
                    if assignment_id not in facts:
                        self._look_up(facts, assignment_id)
                facts.ready(hit_id)
        except BaseException as error:
            facts.fail(error)

    def _read_hit(self, hit_id: str, wanted: set[str], facts: _Facts) -> None:
        try:
            for view in self._mturk.list_assignments_for_hit(hit_id, PLANNING_STATUSES):
                if view.assignment_id in wanted:
                    facts.add(view)
        except DecisionError as error:
            if error.retryable:
                raise  # an unknown HIT is not: its assignments are looked up one by one

    def _look_up(self, facts: _Facts, assignment_id: str) -> None:
        from mturk_decisions.domain.errors import AssignmentNotFound

        try:
            facts.add(self._mturk.get_assignment(assignment_id))
        except AssignmentNotFound:
            facts.missing(assignment_id)

    def _store_plan(self, info: BatchInfo, upload: UploadInfo, facts: _Facts, etag: str) -> None:
        """Pass 2: each row planned and written as it is read; then the chunks, the totals, PLANNED."""
        found = self._open(upload, etag)
        totals, by_hit, skipped = _Totals(), defaultdict(list), 0
        try:
            stream = ResultsCsvStream(found.read, upload.reason, self.max_items)
            with self._store.writing_plan(info.batch_id, info.created_at) as writer:
                for row in stream:
                    if isinstance(row, SkippedRow):
                        writer.skipped(row)
                        totals.add("skip")
                        skipped += 1
                        continue
                    facts.wait(row.hit_id)
                    planned = self._batches.plan_item(row, facts.view(row.assignment_id), info.actor)
                    writer.item(row, _entry(planned))
                    totals.add(planned.outcome, *((planned.cost.reward, planned.cost.fee) if planned.cost else ()))
                    by_hit[row.hit_id].append(row.line)
                writer.chunks(chunks_of_lines(info.batch_id, by_hit))
            stream.raise_if_any()
        finally:
            found.close()
        queued = sum(len(lines) for lines in by_hit.values())
        self._store.finish_plan(info.batch_id, queued, skipped, totals.to_json(self._mturk.get_balance()),
                                self._clock())


def _entry(planned: PlannedItem) -> PlannedEntry:
    item, view, cost = planned.item, planned.view, planned.cost
    return PlannedEntry(item.line, item.assignment_id, planned.outcome, item.action and item.action.value, item.hit_id,
                        view.worker_id if view else None, planned.code, planned.message,
                        str(cost.reward) if cost else None, str(cost.fee) if cost else None)


def _problems(refused: InvalidBatch) -> dict[str, Any]:
    details = refused.details
    errors = details.get("errors") or []
    return {"message": refused.message, "errors": errors[:200], "errorCount": details.get("errorCount", len(errors))}


def _not_csv(why: str) -> InvalidBatch:
    message = f"The upload is not a batch-results CSV: {why}. Upload the CSV downloaded from the requester website."
    return InvalidBatch(message, errors=[{"field": "upload", "message": why}])


def _size_problem(size: int, max_bytes: int) -> str:
    if size <= 0:
        return "The upload is empty: PUT the batch-results CSV to the URL."
    return (f"The upload is {size / 1_048_576:.1f} MB; an upload holds at most {max_bytes // 1_048_576} MB. Split "
            "the CSV into several uploads.")

