"""Uploaded batches without AWS: the streamed CSV reads exactly as POST /batches reads it, the parser refuses
what it must, plans what it may, and its memory does not grow with the file."""
from __future__ import annotations

import csv
import io
import multiprocessing
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mturk_decisions.adapters.upload_store import UploadObject
from mturk_decisions.domain.batch import (
    BatchItem,
    InvalidBatch,
    ResultsCsvStream,
    not_text,
    parse_results_csv,
)
from mturk_decisions.domain.batch_records import BatchInfo, UploadInfo, UploadPhase
from mturk_decisions.service.batches import BatchService
from mturk_decisions.service.decisions import DecisionService
from mturk_decisions.service.uploads import UploadService, batch_id_of, key_of
from tests.fakes import NOW, FakeMTurk, InMemoryAuditStore, assignment

HEADER = ["HITId", "AssignmentId", "WorkerId", "Answer.essay", "Approve", "Reject"]
BATCH = "0123456789abcdef0123456789abcdef"


def results_csv(rows, bom=True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row.get(name, "") for name in HEADER])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def streamed(data: bytes, **kwargs):
    """What the stream yields and refuses, in the shape of parse_results_csv's answer."""
    stream = ResultsCsvStream(io.BytesIO(data).read, **kwargs)
    try:
        rows = list(stream)
        stream.raise_if_any()
    except InvalidBatch as refused:
        return "refused", refused.message, refused.details
    items = [(r.line, r.assignment_id, r.action, r.feedback) for r in rows if isinstance(r, BatchItem)]
    return "ok", items, [(r.line, r.assignment_id, r.reason) for r in rows if not isinstance(r, BatchItem)]


def parsed(data: bytes):
    try:
        batch = parse_results_csv(data, strict_utf8=True)
    except InvalidBatch as refused:
        return "refused", refused.message, refused.details
    return ("ok", [(i.line, i.assignment_id, i.action, i.feedback) for i in batch.items],
            [(s.line, s.assignment_id, s.reason) for s in batch.skipped])


# ---- the stream reads as POST /batches reads ------------------------------------------------------------------
CASES = {
    "good rows, BOM, a skipped row": results_csv([{"HITId": "3H", "AssignmentId": "3A1", "Approve": "x"},
                                                  {"HITId": "3H", "AssignmentId": "3A2", "Reject": "Off topic."},
                                                  {"HITId": "3H", "AssignmentId": "3A3"}]),
    "multi-line cells and CRLF": results_csv([{"AssignmentId": "3A1", "Answer.essay": "two\r\nlines", "Approve": "x"},
                                             {"AssignmentId": "3A2", "Reject": "no,\nsorry"}]).replace(b"\n", b"\r\n"),
    "bad rows and a duplicate": results_csv([{"AssignmentId": "bad id", "Approve": "x"},
                                            {"AssignmentId": "3A2", "Approve": "yes"},
                                            {"AssignmentId": "3A3", "Approve": "x", "Reject": "both"},
                                            {"AssignmentId": "3A4", "Approve": "x"},
                                            {"AssignmentId": "3A4", "Reject": "again"}]),
    "not UTF-8 in a read column": b"AssignmentId,Approve,Reject\n3A1,x,\n3A\xff2,x,\n",
    "empty": b"",
    "header only": b"AssignmentId,Approve,Reject\n",
    "no Approve column": b"AssignmentId,Reject\n3A1,\n",
    "unterminated quote": b"AssignmentId,Approve,Reject\n3A1,x,\"never closed\n",
}


@pytest.mark.parametrize("case", CASES)
def test_given_a_csv_when_streamed_then_it_reads_exactly_as_post_batches_reads_it(case):
    # Given a batch-results CSV, When it is streamed and when it is parsed whole
    # Then the same items, skipped rows, or refusal (message, line-numbered errors, fields, byte offset)
    assert streamed(CASES[case]) == parsed(CASES[case])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({
    "AssignmentId": st.sampled_from(["3A1", "3A2", "3A3", "bad", ""]),
    "Approve": st.sampled_from(["", "x", "X", "y"]),
    "Reject": st.sampled_from(["", "no", " ", "multi\nline"]),
    "Answer.essay": st.text(max_size=30),
}), max_size=8))
def test_given_any_rows_then_the_stream_and_the_whole_parse_agree(rows):
    # Given any rows
    data = results_csv(rows)
    # When / Then streaming them reads as parsing them whole
    assert streamed(data) == parsed(data)


def test_given_more_than_200_bad_rows_then_the_first_200_are_kept_and_all_are_counted():
    # Given 250 bad rows and 3 duplicates
    data = results_csv([{"AssignmentId": f"3A{n}", "Approve": "maybe"} for n in range(250)]
                       + [{"AssignmentId": "3DUP", "Approve": "x"}] * 4)
    # When it is streamed
    outcome, message, details = streamed(data)
    # Then the refusal keeps the first 200 errors (the rows' own first) and counts all 253
    assert outcome == "refused" and details["errorCount"] == 253 and len(details["errors"]) == 200
    assert details["errors"][0]["line"] == 2 and "253 bad row(s)" in message


def test_given_more_decisions_than_an_upload_holds_then_it_is_refused_saying_how_many():
    # Given 5 decisions, an upload limit of 4
    data = results_csv([{"AssignmentId": f"3A{n}", "Approve": "x"} for n in range(5)])
    # When streamed
    outcome, message, _ = streamed(data, max_items=4)
    # Then refused with both numbers
    assert outcome == "refused" and "at most 4 decisions; this one has 5" in message


@pytest.mark.parametrize("head,what", [(b"PK\x03\x04rest", "ZIP"), (b"\x1f\x8b\x08", "gzip"),
                                       (b"%PDF-1.7", "PDF"), (b"a,b\x00c", "NUL"), (b"HITId,AssignmentId", None)])
def test_given_the_first_bytes_then_a_file_that_is_not_text_is_named(head, what):
    # When
    found = not_text(head)
    # Then
    assert (found is None) if what is None else (what in found)


def test_given_object_keys_then_only_an_upload_key_names_a_batch():
    # When / Then
    assert batch_id_of(key_of(BATCH)) == BATCH
    assert batch_id_of("uploads%2F" + BATCH + ".csv") == BATCH  # as S3 events give keys
    assert batch_id_of(f"uploads/{BATCH}.csv.bak") is None and batch_id_of(f"other/{BATCH}.csv") is None


# ---- the parser, on fakes -------------------------------------------------------------------------------------
@dataclass
class FakeObjects:
    """The upload bucket: objects as bytes (or as a file path, read in chunks)."""

    bucket: str = "uploads-bucket"
    objects: dict = field(default_factory=dict)
    content_type: str = "text/csv"

    def open(self, key, if_match=None):
        source = self.objects[key]
        stream = open(source, "rb") if isinstance(source, str) else io.BytesIO(source)
        size = stream.seek(0, 2)
        stream.seek(0)
        return UploadObject(stream.read, size, '"etag"', self.content_type, stream.close)

    def presign_put(self, key, content_type, expires_in):
        return f"https://{self.bucket}.s3.amazonaws.com/{key}?signed"


class FakeUploadStore:
    """The batch table's upload methods; rows are counted, not kept (the memory test measures the parser)."""

    def __init__(self) -> None:
        self.info = BatchInfo(BATCH, NOW, "arn:aws:iam::1:user/r", "csv-upload", 0, phase="AWAITING_UPLOAD")
        self.upload_info = UploadInfo(key_of(BATCH), NOW + timedelta(minutes=15), 1 << 30)
        self.written = {"items": 0, "skipped": 0, "chunks": 0, "outcomes": {}}
        self.finished = self.problems = None

    def create_upload(self, info, upload):
        self.info, self.upload_info = info, upload
        return True

    def upload(self, batch_id):
        return self.info, self.upload_info

    def begin_parse(self, batch_id, size, at, stale_before):
        if self.info.phase != UploadPhase.AWAITING_UPLOAD.value:
            return False
        self.info = BatchInfo(**{**self.info.__dict__, "phase": "PARSING"})
        return True

    def mark_invalid(self, batch_id, problems, at):
        self.problems = problems
        self.info = BatchInfo(**{**self.info.__dict__, "phase": "INVALID"})
        return True

    @contextmanager
    def writing_plan(self, batch_id, created_at):
        written = self.written

        class Writer:
            def item(self, item, entry):
                written["items"] += 1
                written["outcomes"][entry.outcome] = written["outcomes"].get(entry.outcome, 0) + 1

            def skipped(self, row):
                written["skipped"] += 1

            def chunks(self, chunks):
                written["chunks"] += len(list(chunks))

        yield Writer()

    def finish_plan(self, batch_id, queued, skipped, totals, at):
        self.finished = (queued, skipped, totals)
        self.info = BatchInfo(**{**self.info.__dict__, "phase": "PLANNED"})
        return True


def parser(mturk: FakeMTurk, objects: FakeObjects, store: FakeUploadStore | None = None) -> UploadService:
    store = store or FakeUploadStore()
    batches = BatchService(mturk, DecisionService(mturk, InMemoryAuditStore(), clock=lambda: NOW),
                           InMemoryAuditStore(), store, None, clock=lambda: NOW)
    return UploadService(store, objects, batches, mturk, clock=lambda: NOW, can_queue=False)


def test_given_a_good_upload_then_each_row_is_planned_and_written_and_the_batch_is_planned():
    # Given an approval, a reversal (Approve on a Rejected assignment), a rejection, an unknown and a skipped row
    mturk = FakeMTurk(assignment("3A1", hit_id="3H"), assignment("3A2", status="Rejected", hit_id="3H"),
                      assignment("3A3", hit_id="3H"))
    data = results_csv([{"HITId": "3H", "AssignmentId": "3A1", "Approve": "x"},
                        {"HITId": "3H", "AssignmentId": "3A2", "Approve": "x"},
                        {"HITId": "3H", "AssignmentId": "3A3", "Reject": "Off topic."},
                        {"HITId": "3H", "AssignmentId": "3NOSUCH", "Approve": "x"},
                        {"HITId": "3H", "AssignmentId": "3A5"}])
    objects = FakeObjects(objects={key_of(BATCH): data})
    service = parser(mturk, objects)
    # When its object is announced
    outcome = service.receive(objects.bucket, key_of(BATCH), len(data))
    # Then every row was planned as the dry run plans it, written, and the totals stored
    store = service._store
    assert outcome.startswith("planned") and store.info.phase == "PLANNED"
    assert store.written["outcomes"] == {"approve": 1, "reverse": 1, "reject": 1, "refused": 1}
    assert (store.written["items"], store.written["skipped"], store.written["chunks"]) == (4, 1, 1)
    queued, skipped, totals = store.finished
    assert (queued, skipped) == (4, 1)
    assert totals["reward"] == "1.00" and totals["skipped"] == 1 and totals["balanceWhenPlanned"] == "100.00"
    # And announced again (S3 delivers at least once), it is left alone
    assert service.receive(objects.bucket, key_of(BATCH), len(data)).startswith("ignored")


@pytest.mark.parametrize("data,content_type,why", [
    (b"", "text/csv", "empty"),
    (b"PK\x03\x04" + b"\x00" * 64, "text/csv", "ZIP archive"),
    (results_csv([{"AssignmentId": "3A1", "Approve": "x"}]), "application/json", "not text/csv"),
    (results_csv([{"AssignmentId": "3A1"}]), "text/csv", "Every row was skipped"),
])
def test_given_an_unusable_upload_then_the_batch_is_invalid_saying_why_and_nothing_is_written(data, content_type,
                                                                                              why):
    # Given an upload that is empty, not text, of another type, or all skipped
    objects = FakeObjects(objects={key_of(BATCH): data}, content_type=content_type)
    service = parser(FakeMTurk(assignment("3A1")), objects)
    # When it is announced
    outcome = service.receive(objects.bucket, key_of(BATCH), len(data))
    # Then the batch is INVALID with that reason, and no row was written
    store = service._store
    assert outcome == "invalid" and store.info.phase == "INVALID"
    assert why in store.problems["message"] or any(why in e["message"] for e in store.problems["errors"])
    assert store.written["items"] == store.written["skipped"] == 0 and store.finished is None


def test_given_an_upload_over_the_maximum_then_invalid_before_it_is_read():
    # Given an announced size over the maximum
    objects = FakeObjects(objects={})  # never opened
    service = parser(FakeMTurk(), objects)
    service.max_bytes = 1000
    # When / Then it is announced: INVALID for its size, naming the maximum
    assert service.receive(objects.bucket, key_of(BATCH), 1001) == "invalid"
    assert "at most" in service._store.problems["message"]


def test_given_another_bucket_or_key_then_the_parser_ignores_it():
    # Given
    service = parser(FakeMTurk(), FakeObjects())
    # When / Then
    assert service.receive("someone-elses-bucket", key_of(BATCH), 10).startswith("ignored")
    assert service.receive("uploads-bucket", "uploads/not-a-batch.csv", 10).startswith("ignored")


# ---- memory -----------------------------------------------------------------------------------------------------
def large_upload(path, rows: int, essay_chars: int, hits: int) -> tuple[FakeMTurk, int]:
    """A batch-results CSV of `rows` rows with long free-text answers, and MTurk knowing its assignments."""
    views, essay = [], ("An answer in free text, with commas, \"quotes\" and words. " * 40)[:essay_chars]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER + ["Answer.q2", "Answer.q3"])
        for n in range(rows):
            hit, assignment_id = f"3HIT{n % hits:026d}", f"3ASG{n:026d}"
            views.append(assignment(assignment_id, hit_id=hit, worker_id=f"AW{n % 997:08d}"))
            decision = {"Approve": "x"} if n % 3 else {"Reject": "The answer does not follow the instructions."}
            writer.writerow([hit, assignment_id, f"AW{n % 997:08d}", essay, decision.get("Approve", ""),
                             decision.get("Reject", ""), essay, essay])
    return FakeMTurk(*views, balance="1000000.00"), path.stat().st_size


def _traced_parse(folder: str, name: str, essay_chars: int) -> tuple[int, int, int, str]:
    """In the child: (peak traced memory, file size, items written, planned reward) for 8,000 rows."""
    path = Path(folder) / name
    mturk, size = large_upload(path, rows=8_000, essay_chars=essay_chars, hits=80)
    objects = FakeObjects(objects={key_of(BATCH): str(path)})
    service = parser(mturk, objects)
    tracemalloc.start()
    try:
        assert service.receive(objects.bucket, key_of(BATCH), size).startswith("planned")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size, service._store.written["items"], service._store.finished[2]["reward"]


def parse_peak(tmp_path, name: str, essay_chars: int) -> tuple[int, int, int, str]:
    """The parser's peak memory parsing 8,000 rows of long answers, measured in a fresh interpreter: tracemalloc
    counts every thread's allocations, and a test session may run an offline stack's threads beside this test."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_traced_parse, (str(tmp_path), name, essay_chars))


def test_given_a_20_mb_upload_then_the_parsers_peak_memory_stays_well_below_the_files_size(tmp_path):
    # Given a 20 MB batch-results CSV (8,000 rows, three long free-text answers each), MTurk knowing them
    # When the parser validates, plans and writes it, memory traced
    peak, size, written, reward = parse_peak(tmp_path, "20mb.csv", essay_chars=850)
    # Then every row was planned, and the peak is a small fraction of the file: one line, the reader's buffer and
    # a few hundred bytes per assignment are held, never the file
    assert size >= 20_000_000 and written == 8_000
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"
    assert Decimal(reward) > 0
    # And the same rows with answers twice as long (a file twice the size) take no more memory to parse
    larger_peak, larger_size, _, _ = parse_peak(tmp_path, "40mb.csv", essay_chars=1700)
    assert larger_size > 1.9 * size
    assert larger_peak < peak + 1_000_000, (peak, larger_peak)
