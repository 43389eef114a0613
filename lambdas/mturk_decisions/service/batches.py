"""Bulk decisions: plan a batch, queue it in chunks, and apply each chunk exactly once per item.

A chunk holds the items of one HIT, so the worker reads their state with ListAssignmentsForHIT
(100 per page) instead of one GetAssignment per item, tracks the balance itself, and spends one
MTurk write per decision. SQS may redeliver a chunk (or deliver it twice at once): items already final
are left alone, an item whose earlier attempt was cut off is settled from its audit record by evidence
(never while that attempt may still be running: its lease says so), and each decision takes the
assignment's lease, so an item is never applied twice. Completion is announced whenever nothing is left
queued, on a redelivery too. A batch whose chunks could not be queued is re-queued by the reconciler.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from mturk_decisions.adapters.work_queue import Chunk
from mturk_decisions.domain import rules
from mturk_decisions.domain.batch import (
    FINAL_STATUSES,
    WORKABLE_STATUSES,
    BatchItem,
    InvalidBatch,
    ItemStatus,
    ParsedBatch,
)
from mturk_decisions.domain.batch_records import BatchInfo, StoredItem
from mturk_decisions.domain.errors import (
    AssignmentNotFound,
    DecisionError,
    DecisionInProgress,
    InsufficientFunds,
    QueueUnavailable,
    WrongAssignmentState,
)
from mturk_decisions.domain.model import (
    Action,
    AssignmentView,
    Cost,
    DecisionRecord,
    DecisionRequest,
    DecisionState,
    Plan,
    Source,
)
from mturk_decisions.domain.notice import WorkerNotice
from mturk_decisions.service.chunk_runner import SEQUENTIAL, Budget, Window, run_in_window
from mturk_decisions.service.decisions import DecisionService, utc_now
from mturk_decisions.service.ports import AuditStore, BatchStore, JoinedWrite, MTurkGateway, WorkQueue
from mturk_decisions.service.settlement import Settlement

HIT_CHUNK_SIZE = 500
#: A worker stops taking items when less than this is left of its invocation: one more item can take
#: MTurk's retries (up to about half a minute), then the rest goes back to the queue as a new chunk.
TIME_MARGIN_SECONDS = 60.0
#: A batch still not queued this long after it was stored is stranded: the reconciler queues it.
STRANDED_AFTER = timedelta(minutes=5)
LOOSE_CHUNK_SIZE = 100


@dataclass
class PlannedItem:
    item: BatchItem
    outcome: str  # reject | reverse | approve | refused | skip
    view: AssignmentView | None = None
    cost: Cost | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class BatchPlan:
    items: list[PlannedItem]
    skipped: list[tuple[int, str | None, str]]
    balance: Decimal
    totals: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        counts: defaultdict[str, int] = defaultdict(int)
        reward = fee = Decimal("0")
        for planned in self.items:
            counts[planned.outcome] += 1
            if planned.cost:
                reward, fee = reward + planned.cost.reward, fee + planned.cost.fee
        counts["skipped"] = counts.pop("skip", 0) + len(self.skipped)
        total = reward + fee
        self.totals = {
            **{name: counts.get(name, 0) for name in ("reject", "reverse", "approve", "refused", "skipped")},
            "cost": {"reward": str(reward), "fee": str(fee), "total": str(total)},
            "balance": str(self.balance),
            "balanceAfter": str(self.balance - total),
            "sufficientFunds": total <= self.balance,
        }


@dataclass(frozen=True)
class Submission:
    batch_id: str
    total: int
    queued: int
    skipped: list[tuple[int, str | None, str]]


@dataclass(frozen=True)
class BatchStatus:
    info: BatchInfo
    items: list[StoredItem]

    @property
    def counts(self) -> dict[str, int]:
        counts = {status.count_key: 0 for status in ItemStatus}
        for stored in self.items:
            counts[stored.status.count_key] += 1
        return counts

    @property
    def done(self) -> int:
        return sum(1 for stored in self.items if stored.status in FINAL_STATUSES)

    @property
    def queued(self) -> int:
        return sum(1 for stored in self.items if stored.status is ItemStatus.QUEUED)

    @property
    def state(self) -> str:
        if self.info.phase:  # an uploaded batch not applied yet: AWAITING_UPLOAD, PARSING, INVALID or PLANNED
            return self.info.phase
        if self.queued == 0:
            return "COMPLETED"
        return "RUNNING" if self.done > sum(1 for s in self.items if s.status is ItemStatus.SKIPPED) else "QUEUED"


@dataclass(frozen=True)
class BatchSummary:
    """A batch's progress from the counters its writes keep (a fixed number of reads, whatever its size)."""

    info: BatchInfo
    by_status: dict[ItemStatus, int]

    @property
    def counts(self) -> dict[str, int]:
        return {status.count_key: self.by_status.get(status, 0) for status in ItemStatus}

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def done(self) -> int:
        return sum(n for status, n in self.by_status.items() if status in FINAL_STATUSES)

    @property
    def queued(self) -> int:
        return self.by_status.get(ItemStatus.QUEUED, 0)

    @property
    def state(self) -> str:
        if self.info.phase:  # an uploaded batch not applied yet: AWAITING_UPLOAD, PARSING, INVALID or PLANNED
            return self.info.phase
        if self.queued == 0:
            return "COMPLETED"
        return "RUNNING" if self.done > self.by_status.get(ItemStatus.SKIPPED, 0) else "QUEUED"


class _Mark(Protocol):
    """Moves one item of a chunk to `status` (from the status it had when the chunk was read)."""

    def __call__(self, status: ItemStatus, code: str | None = None, message: str | None = None,
                 decision_id: str | None = None) -> None: ...


class BatchService:
    def __init__(
        self,
        mturk: MTurkGateway,
        decisions: DecisionService,
        audit: AuditStore,
        store: BatchStore,
        queue: WorkQueue,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        on_completed: Callable[[BatchSummary], None] = lambda summary: None,
        window: Window = SEQUENTIAL,
        events_batched: Callable[[], AbstractContextManager[None]] = nullcontext,
    ) -> None:
        """`window`: how many items of a chunk are applied at once (chunk_runner); one at a time by default.
        `events_batched`: the block within which the decisions' events are sent several to a call."""
        self._on_completed, self._window, self._events_batched = on_completed, window, events_batched
        self._mturk, self._decisions, self._audit = mturk, decisions, audit
        self._store, self._queue = store, queue
        self._clock, self._new_id = clock, new_id
        self._settlement = Settlement(mturk, audit, clock)

    # ----- in the API -----

    def plan(self, parsed: ParsedBatch, actor: str) -> BatchPlan:
        """The dry run: what each row would do, and the total cost against the current balance."""
        views = self._read_views(parsed.items)
        planned = [self.plan_item(item, views.get(item.assignment_id), actor) for item in parsed.items]
        skipped = [(row.line, row.assignment_id, row.reason) for row in parsed.skipped]
        return BatchPlan(planned, skipped, self._mturk.get_balance())

    def plan_item(self, item: BatchItem, view: AssignmentView | None, actor: str) -> PlannedItem:
        """What one item would do, given MTurk's view of its assignment (None: MTurk has none). Funds are judged
        on the batch's total, not item by item."""
        if view is None:
            return PlannedItem(item, "refused", code=AssignmentNotFound.code,
                               message=f"MTurk has no assignment {item.assignment_id} for this requester.")
        action = _effective_action(item, view)
        if action is None:
            return PlannedItem(item, "skip", view, message="already Approved: nothing to do")
        try:
            plan = self._decisions.plan(self._request(item, action, actor, None), assignment=view,
                                        balance=Decimal("Infinity"))
        except DecisionError as refused:
            return PlannedItem(item, "refused", view, code=refused.code, message=refused.message)
        return PlannedItem(item, action.value, view, plan.cost)

    def submit(self, parsed: ParsedBatch, actor: str, origin: str, hit_id: str | None = None,
               batch_id: str | None = None, notice: WorkerNotice | None = None) -> Submission:
        """Store, then queue. With a `batch_id` (derived from an Idempotency-Key), a batch stored before is
        answered as it is: a retried submit never creates a second batch. A `notice` is sent to each worker
        once their decision succeeds (see `_notify`)."""
        if not parsed.items:
            raise InvalidBatch("Every row was skipped: mark Approve with x or fill in Reject.", errors=[])
        skipped = [(row.line, row.assignment_id, row.reason) for row in parsed.skipped]
        if batch_id is not None and self._store.exists(batch_id):
            return Submission(batch_id, len(parsed.items) + len(skipped), len(parsed.items), skipped)
        batch_id = batch_id or self._new_id()
        info = BatchInfo(batch_id, self._clock(), actor, origin, len(parsed.items) + len(skipped), hit_id,
                         notice=notice.to_json() if notice else None)
        if not self._store.create(info, parsed.items, skipped):
            return Submission(batch_id, info.total, len(parsed.items), skipped)
        self._enqueue(batch_id, chunks_of(batch_id, parsed.items))
        return Submission(batch_id, info.total, len(parsed.items), skipped)

    def enqueue(self, batch_id: str, chunks: list[Chunk]) -> None:
        """Send a stored batch's chunks, then mark it queued (an uploaded batch, applied)."""
        self._enqueue(batch_id, chunks)

    def _enqueue(self, batch_id: str, chunks: list[Chunk]) -> None:
        try:
            self._queue.send(chunks)
            self._store.mark_queued(batch_id)
        except Exception:
            raise QueueUnavailable(
                f"Batch {batch_id} is stored but could not be queued yet; it will be queued automatically within "
                f"about {int(STRANDED_AFTER.total_seconds() // 60) + 5} minutes. Follow it with GET /batches/{batch_id}; "
                "do not submit it again.", batchId=batch_id, retryAfterSeconds=60) from None

    def requeue_stranded(self) -> list[str]:
        """Queue again what is still QUEUED in batches whose send failed (run by the reconciler). Items
        already final are skipped by the worker, so a chunk sent twice applies nothing twice."""
        requeued = []
        for info in self._store.unqueued(self._clock() - STRANDED_AFTER):
            queued = [s.item for s in self._store.all_items(info.batch_id) if s.status is ItemStatus.QUEUED]
            self._enqueue(info.batch_id, chunks_of(info.batch_id, queued))
            requeued.append(info.batch_id)
        return requeued

    def hit_reversals(self, hit_id: str, feedback: str | None, reason: str | None,
                      worker_ids: Iterable[str] | None) -> ParsedBatch:
        """Every rejected assignment of a HIT (optionally only some workers'), as a batch of reversals."""
        rules.validate_feedback(feedback, required=False)
        rules.validate_reason(reason)
        wanted = set(worker_ids or [])
        parsed = ParsedBatch()
        for position, view in enumerate(self._mturk.list_assignments_for_hit(hit_id, ["Rejected"]), start=1):
            if wanted and view.worker_id not in wanted:
                continue
            parsed.items.append(BatchItem(position, view.assignment_id, Action.REVERSE, feedback, reason, hit_id))
        if not parsed.items:
            who = f" for workers {', '.join(sorted(wanted))}" if wanted else ""
            raise InvalidBatch(f"HIT {hit_id} has no rejected assignments{who}: nothing to reverse.", errors=[],
                               hitId=hit_id)
        return parsed

    def status(self, batch_id: str) -> BatchStatus:
        """Every item (for tools and tests; the API reads `summary` and `items_page`)."""
        info = self._store.info(batch_id)
        return BatchStatus(info, sorted(self._store.all_items(batch_id), key=lambda s: s.item.line))

    def summary(self, batch_id: str) -> BatchSummary:
        info = self._store.info(batch_id)
        if info.counts is None:  # stored before the counters existed: count its items once
            items = self._store.all_items(batch_id)
            return BatchSummary(info, {status: sum(1 for s in items if s.status is status) for status in ItemStatus})
        return BatchSummary(info, dict(info.counts))

    def items_page(self, batch_id: str, after_line: int, limit: int,
                   status: ItemStatus | None = None) -> tuple[list[StoredItem], int | None]:
        return self._store.items_page(batch_id, after_line, limit, status)

    # ----- in the worker -----

    def process(self, chunk: Chunk, redelivered: bool = False, final_attempt: bool = False,
                seconds_left: Callable[[], float] = lambda: float("inf")) -> dict[str, int]:
        """Apply one chunk. Raises a retryable error to have SQS redeliver what is left of it; on its
        `final_attempt` (the next failure sends it to the DLQ) what is left is marked DEAD_LETTERED. When the
        invocation runs out of time, the items not started go back to the queue as a new chunk (a fresh
        message: running out of time never counts as a failed delivery)."""
        info = self._store.info(chunk.batch_id)
        stored = [s for s in self._store.items(chunk.batch_id, chunk.lines) if s.status in WORKABLE_STATUSES]
        outcomes: dict[str, int] = defaultdict(int)
        try:
            left = self._process_items(info, chunk, stored, redelivered, outcomes, seconds_left)
        except DecisionError as error:
            if error.retryable and final_attempt:
                self._dead_letter(info, chunk, error)
            raise
        if left:
            self._queue.send([Chunk(chunk.batch_id, chunk.hit_id, [item.line for item in left])])
            outcomes["continued"] = len(left)
            return outcomes
        self._announce_if_complete(chunk.batch_id)
        return outcomes

    def _process_items(self, info: BatchInfo, chunk: Chunk, stored: list[StoredItem], redelivered: bool,
                       outcomes: dict[str, int], seconds_left: Callable[[], float]) -> list[BatchItem]:
        """Apply the items, several in flight at once (see chunk_runner); the items left for a continuation
        when time runs short (none when the chunk is done)."""
        if not stored:
            return []
        budget = Budget(self._mturk.get_balance())
        was = {s.item.line: s.status for s in stored}
        pending = [s.item for s in stored]
        succeeded: list[DecisionRecord] = []  # appended from the window's threads (list.append is atomic)

        def act(piece: tuple[BatchItem, AssignmentView | None]) -> ItemStatus:
            return self._process_item(info, piece[0], piece[1], budget, redelivered, was[piece[0].line], succeeded)

        def may_start(index: int) -> bool:  # at least one item each time: a continuation always progresses
            return index == 0 or seconds_left() >= TIME_MARGIN_SECONDS

        with self._events_batched():
            result = run_in_window(self._views_as_read(pending, chunk.hit_id), act, self._window, may_start)
        self._notify(info, succeeded)
        for status in result.statuses:
            outcomes[status.value] += 1
        if result.stopped_by is not None:
            raise result.stopped_by
        if result.busy is not None:
            raise result.busy  # another decision holds an assignment: its item is retried with the redelivery
        return [item for item, _ in result.not_started]

    def _notify(self, info: BatchInfo, succeeded: list[DecisionRecord]) -> None:
        """Tell the workers whose decision of this chunk succeeded (NotifyWorkers, 100 workers a call), once the
        chunk's run ends: a decision whose record already holds a notification (a redelivery) is not told again."""
        records = [record for record in succeeded if record.notification is None]
        if info.notice and records:
            notice = WorkerNotice(info.notice["subject"], info.notice["message"])
            self._decisions.notify_workers(records, notice)

    def _dead_letter(self, info: BatchInfo, chunk: Chunk, error: DecisionError) -> None:
        for stored in self._store.items(chunk.batch_id, chunk.lines):
            if stored.status is ItemStatus.QUEUED:
                self._store.mark(info.batch_id, stored.item.line, ItemStatus.DEAD_LETTERED, code=error.code,
                                 message=f"Its chunk went to the dead-letter queue after its retries: {error.message}",
                                 at=self._clock())

    def _announce_if_complete(self, batch_id: str) -> None:
        """Whoever sees nothing left queued announces the batch, once (a conditional write decides who)."""
        summary = self.summary(batch_id)
        if summary.state == "COMPLETED" and self._store.mark_completed(batch_id, self._clock()):
            self._on_completed(summary)

    def _process_item(self, info: BatchInfo, item: BatchItem, view: AssignmentView | None, budget: Budget,
                      redelivered: bool, was: ItemStatus = ItemStatus.QUEUED,
                      succeeded: list[DecisionRecord] | None = None) -> ItemStatus:
        """Decide one item; a decision that succeeds (now, or in an earlier delivery) joins `succeeded`."""
        succeeded = [] if succeeded is None else succeeded

        def mark(status: ItemStatus, code: str | None = None, message: str | None = None,
                 decision_id: str | None = None) -> None:
            self._store.mark(info.batch_id, item.line, status, code=code, message=message, decision_id=decision_id,
                             at=self._clock(), was=was)

        if view is None:
            mark(ItemStatus.REFUSED, code=AssignmentNotFound.code,
                 message=f"MTurk has no assignment {item.assignment_id} for this requester.")
            return ItemStatus.REFUSED
        action = _effective_action(item, view)
        if (redelivered or action is None) and self._settled_earlier(info, item, view, mark, succeeded):
            return ItemStatus.SUCCEEDED
        if action is None:
            mark(ItemStatus.SKIPPED, message="already Approved: nothing to do")
            return ItemStatus.SKIPPED
        request = self._request(item, action, info.actor, info.batch_id)
        try:
            plan = self._decisions.plan(request, assignment=view, balance=budget.left)
        except WrongAssignmentState as refused:
            if self._settled_earlier(info, item, view, mark, succeeded):  # another delivery of this chunk applied it
                return ItemStatus.SUCCEEDED
            mark(ItemStatus.REFUSED, code=refused.code, message=refused.message)
            return ItemStatus.REFUSED
        except DecisionError as refused:
            mark(ItemStatus.REFUSED, code=refused.code, message=refused.message)
            return ItemStatus.REFUSED
        return self._apply(plan, mark, budget, succeeded, self._store.settling(info.batch_id, item.line, was))

    def _apply(self, plan: Plan, mark: _Mark, budget: Budget, succeeded: list[DecisionRecord],
               settling: JoinedWrite) -> ItemStatus:
        """Reserve the cost from the chunk's budget (items in flight share it), then decide. A success settles
        the item in the decision's finalize transaction (`settling`), else by a mark of its own."""
        cost = plan.cost.total if plan.cost else Decimal("0")
        if not budget.reserve(cost):
            refused = InsufficientFunds(f"The balance left for this batch (${budget.left}) does not cover "
                                        f"${cost}; add funds and re-apply the refused items.")
            mark(ItemStatus.REFUSED, code=refused.code, message=refused.message)
            return ItemStatus.REFUSED
        try:
            outcome = self._decisions.apply(plan, joined=settling)
        except DecisionError as failed:
            budget.refund(cost)  # a FAILED decision charged nothing; an unknown one is settled later
            if failed.retryable:
                raise
            mark(ItemStatus.FAILED, code=failed.code, message=failed.message, decision_id=failed.details.get("decisionId"))
            return ItemStatus.FAILED
        if not outcome.joined_written:
            mark(ItemStatus.SUCCEEDED, decision_id=outcome.record.decision_id)
        succeeded.append(outcome.record)
        return ItemStatus.SUCCEEDED

    def _settled_earlier(self, info: BatchInfo, item: BatchItem, view: AssignmentView, mark: _Mark,
                         succeeded: list[DecisionRecord] | None = None) -> bool:
        """An earlier attempt of this batch's item may have been applied (a redelivery after a crash, or two
        deliveries at once): its audit record, settled by evidence, says so. An attempt that may still be
        running (its lease is live) is waited for: DecisionInProgress has SQS redeliver the chunk later."""
        for record in self._audit.history(item.assignment_id):
            if record.batch_id != info.batch_id:
                continue
            if record.state is DecisionState.PENDING:
                lease = self._audit.lease(item.assignment_id)
                if lease is not None and lease.decision_id == record.decision_id and not lease.expired(self._clock()):
                    raise DecisionInProgress(f"An earlier attempt at assignment {item.assignment_id} is still "
                                             "running; the item is retried later.", holderDecisionId=record.decision_id)
                self._settlement.settle(record, view)
                record = self._audit.reload(record) or record
            if record.state is DecisionState.SUCCEEDED:
                mark(ItemStatus.SUCCEEDED, decision_id=record.decision_id)
                if succeeded is not None:
                    succeeded.append(record)
                return True
        return False

    def _read_views(self, items: list[BatchItem], hit_id: str | None = None) -> dict[str, AssignmentView]:
        """Assignment states by HIT page (only the statuses the items can act on), then one by one for the rest."""
        return {item.assignment_id: view for item, view in self._views_as_read(items, hit_id) if view is not None}

    def _views_as_read(self, items: list[BatchItem], hit_id: str | None = None
                       ) -> Iterator[tuple[BatchItem, AssignmentView | None]]:
        """Each item with MTurk's view of its assignment, as soon as a page has it (so the first items are
        applied while later pages load); the items no page had are looked up one by one at the end."""
        by_id = {item.assignment_id: item for item in items}
        seen: set[str] = set()
        hits = {hit_id} if hit_id else {item.hit_id for item in items if item.hit_id}
        statuses = sorted({status for item in items for status in _statuses_acted_on(item)})
        for hit in hits:
            try:
                for view in self._mturk.list_assignments_for_hit(hit, statuses):
                    if view.assignment_id in by_id and view.assignment_id not in seen:
                        seen.add(view.assignment_id)
                        yield by_id[view.assignment_id], view
            except DecisionError as error:
                if error.retryable:
                    raise
                continue  # an unknown HIT: its items are looked up one by one below
        for item in items:
            if item.assignment_id not in seen:
                seen.add(item.assignment_id)
                yield item, self._view_or_none(item.assignment_id)

    def _view_or_none(self, assignment_id: str) -> AssignmentView | None:
        try:
            return self._mturk.get_assignment(assignment_id)
        except AssignmentNotFound:
            return None

    @staticmethod
    def _request(item: BatchItem, action: Action, actor: str, batch_id: str | None) -> DecisionRequest:
        return DecisionRequest(assignment_id=item.assignment_id, action=action, feedback=item.feedback,
                               reason=item.reason, actor=actor, source=Source.BATCH, batch_id=batch_id)


def _effective_action(item: BatchItem, view: AssignmentView) -> Action | None:
    """The CSV's Approve means 'reverse' on a Rejected assignment, and nothing on an Approved one."""
    if not item.approve_or_reverse:
        return item.action
    if view.status == "Rejected":
        return Action.REVERSE
    if view.status == "Approved":
        return None
    return Action.APPROVE


def _statuses_acted_on(item: BatchItem) -> tuple[str, ...]:
    if item.approve_or_reverse:
        return ("Submitted", "Rejected")
    return ("Rejected",) if item.action is Action.REVERSE else ("Submitted",)


def chunks_of(batch_id: str, items: list[BatchItem]) -> list[Chunk]:
    by_hit: dict[str | None, list[int]] = defaultdict(list)
    for item in items:
        by_hit[item.hit_id].append(item.line)
    return chunks_of_lines(batch_id, by_hit)


def chunks_of_lines(batch_id: str, by_hit: dict[str | None, list[int]]) -> list[Chunk]:
    """The chunks of a batch whose item lines are grouped by HIT (None: items without a HIT id)."""
    chunks = []
    for hit_id, lines in by_hit.items():
        size = HIT_CHUNK_SIZE if hit_id else LOOSE_CHUNK_SIZE
        chunks += [Chunk(batch_id, hit_id, lines[i:i + size]) for i in range(0, len(lines), size)]
    return chunks
