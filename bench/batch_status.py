"""Batch status at constant cost: ``GET /batches/{id}`` for a 100,000-item batch against a 1,000-item one.

Both batches are stored straight in the batch table with the store's own writer (``DynamoBatchStore.create``:
BatchWriteItem 25 items at a time, then META with its counters), marked queued as the API leaves a batch once its
chunks are sent, and a few items of each settled with ``mark`` (an item's status and META's counters in one
transaction), so each batch is RUNNING with its counters where the worker's writes would leave them. Nothing is
queued: no worker touches them. Running 100,000 decisions through the worker would take hours for one figure.

Then the two batches' status is read through the signed local API, alternating call by call so that drift of
the machine hits both alike (the default page: META's counters and 100 items), and the DynamoDB calls one read
makes are counted at moto for each batch: the same calls, whatever the batch's size.

On moto, a Query walks every item of the table (moto's `Table.query` filters `all_items()`), so both reads pay for
the 101,000 items the table holds; DynamoDB reads by key range. What differs between the two reads is what the
code reads, which is the point: a read that grew with the batch (every item, 1 MB pages) would show.

Figure: ``batch_status_cost_ratio`` = median time for the big batch / median time for the small one (goal <= 1.5:
the read does not grow with the batch).
"""
from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime

from mturk_decisions.domain.batch import BatchItem, ItemStatus
from mturk_decisions.domain.model import Action

BIG, SMALL = 100_000, 1_000
#: Items of each batch settled before the reads (its counters moved by the same transactions as the worker's).
SETTLED = 10
ACTOR = "arn:aws:iam::000000000000:user/bench"


def seed_batch(store, items: int) -> tuple[str, float]:
    """A stored, queued batch of `items` approvals with SETTLED of them SUCCEEDED; (its id, seconds to store it)."""
    from mturk_decisions.domain.batch_records import BatchInfo

    batch_id = uuid.uuid4().hex
    rows = [BatchItem(line, f"3BENCHSTATUS{line:018d}", Action.APPROVE, hit_id=f"3BENCHHIT{line // 500:021d}",
                      approve_or_reverse=True) for line in range(1, items + 1)]
    started = time.monotonic()
    info = BatchInfo(batch_id, datetime.now(UTC), ACTOR, "json", items)
    if not store.create(info, rows, []):
        raise RuntimeError(f"batch {batch_id} existed already")
    store.mark_queued(batch_id)
    for line in range(1, SETTLED + 1):
        store.mark(batch_id, line, ItemStatus.SUCCEEDED, decision_id=uuid.uuid4().hex)
    return batch_id, time.monotonic() - started


def _timed_get(api, batch_id: str, total: int) -> float:
    began = time.perf_counter()
    answer = api.get(f"/batches/{batch_id}")
    seconds = time.perf_counter() - began
    body = answer.json() if answer.status_code == 200 else {}
    if answer.status_code != 200 or body.get("total") != total or body.get("status") != "RUNNING":
        raise RuntimeError(f"GET /batches/{batch_id} answered {answer.status_code}: {answer.text[:300]}")
    return seconds


def dynamodb_calls_of_one_read(api, counter, batch_id: str, total: int, tries: int = 3) -> dict[str, int]:
    """The DynamoDB calls moto saw during one read (the fewest of `tries`: the stack's schedules may call too)."""
    seen = []
    for _ in range(tries):
        counter.reset()
        _timed_get(api, batch_id, total)
        seen.append(counter.snapshot()["calls"])
    return min(seen, key=lambda calls: sum(calls.values()))


def run(stack, api, counter, samples: int, big: int = BIG, small: int = SMALL, warmup: int = 3) -> dict:
    from local.stack import REGION
    from mturk_decisions.adapters.batch_store import DynamoBatchStore

    store = DynamoBatchStore.for_table(stack.env["BATCH_TABLE_NAME"], REGION, stack.moto_url)
    small_id, small_seconds = seed_batch(store, small)
    big_id, big_seconds = seed_batch(store, big)
    timings: dict[str, list[float]] = {"big": [], "small": []}
    for index in range(samples + warmup):
        pair = (("big", big_id, big), ("small", small_id, small))
        for name, batch_id, total in pair if index % 2 else reversed(pair):  # who goes first alternates too
            seconds = _timed_get(api, batch_id, total)
            if index >= warmup:
                timings[name].append(seconds)
    calls = {"big": dynamodb_calls_of_one_read(api, counter, big_id, big),
             "small": dynamodb_calls_of_one_read(api, counter, small_id, small)}
    big_median, small_median = statistics.median(timings["big"]), statistics.median(timings["small"])
    return {
        "samples": samples,
        "big_items": big, "small_items": small,
        "big_median_ms": big_median * 1000, "small_median_ms": small_median * 1000,
        "ratio": big_median / small_median,
        "big_p90_ms": _p90(timings["big"]) * 1000, "small_p90_ms": _p90(timings["small"]) * 1000,
        "dynamodb_calls_per_read": calls,
        "seed_seconds": {"big": round(big_seconds, 1), "small": round(small_seconds, 1)},
    }


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
