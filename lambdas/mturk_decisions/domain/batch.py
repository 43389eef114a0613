"""Bulk decisions: the items of a batch, and the two ways a requester gives them.

The MTurk requester website's batch-results CSV is parsed exactly as the website reads an upload:
an `x` in `Approve` approves (and reverses a rejection when the assignment is Rejected and `Reject`
is empty); text in `Reject` rejects with that text as the worker's feedback; rows with neither are
skipped and reported. Every row is validated up front and each bad row is reported by line number, with the
column (or member) at fault as its `field`.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import DecisionError
from mturk_decisions.domain.ids import is_mturk_id
from mturk_decisions.domain.model import Action

MAX_BATCH_ITEMS = 10_000


class ItemStatus(str, Enum):  # noqa: UP042 - StrEnum would change str() and f-strings of members
    QUEUED = "QUEUED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REFUSED = "REFUSED"
    SKIPPED = "SKIPPED"
    #: Its chunk exhausted its retries and went to the dead-letter queue; a redrive processes it again.
    DEAD_LETTERED = "DEAD_LETTERED"

    @property
    def count_key(self) -> str:
        """The item count's name in the API: `succeeded`, `deadLettered`, ..."""
        first, *rest = self.value.lower().split("_")
        return first + "".join(part.capitalize() for part in rest)


FINAL_STATUSES = frozenset({ItemStatus.SUCCEEDED, ItemStatus.FAILED, ItemStatus.REFUSED, ItemStatus.SKIPPED})
#: Items a worker still acts on: queued, or dead-lettered and redriven from the DLQ.
WORKABLE_STATUSES = frozenset({ItemStatus.QUEUED, ItemStatus.DEAD_LETTERED})


class InvalidBatch(DecisionError):
    code = "INVALID_BATCH"


class BatchNotFound(DecisionError):
    code = "BATCH_NOT_FOUND"


@dataclass(frozen=True)
class BatchItem:
    """One decision of a batch. `approve_or_reverse` is the CSV's Approve: reverse if MTurk says Rejected."""

    line: int
    assignment_id: str
    action: Action | None  # None only for a skipped row, as stored (it has no decision)
    feedback: str | None = None
    reason: str | None = None
    hit_id: str | None = None
    approve_or_reverse: bool = False


@dataclass(frozen=True)
class SkippedRow:
    line: int
    assignment_id: str | None
    reason: str


@dataclass
class ParsedBatch:
    items: list[BatchItem] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


@dataclass
class _Problems:
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Where the first bytes that are not UTF-8 are, in the body as received.
    byte_offset: int | None = None

    def add(self, line: int | None, message: str, assignment_id: str | None, field_name: str) -> None:
        entry = {"line": line, "assignmentId": assignment_id, "field": field_name, "message": message}
        self.errors.append({k: v for k, v in entry.items() if v is not None})

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            shown = "; ".join(f"line {e.get('line', '?')}: {e['message']}" for e in self.errors[:3])
            more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            raise InvalidBatch(
                f"{len(self.errors)} bad row(s) in the {what}; nothing was queued. {shown}{more}",
                errors=self.errors[:200],
                errorCount=len(self.errors),
                byteOffset=self.byte_offset,
            )


#: The columns of the batch-results CSV that are read (the others are the website's, left as they are).
_READ_COLUMNS = {"assignmentid": "AssignmentId", "hitid": "HITId", "approve": "Approve", "reject": "Reject"}
_REPLACEMENT = "\ufffd"


class _Utf8Check:
    """Finds U+FFFD in the columns the API reads: what API Gateway puts in place of bytes that are not UTF-8
    (or U+FFFD itself), reported with its byte offset in the body as received."""

    def __init__(self, text: str, offset_of_text: int) -> None:
        self.text, self.starts, position = text, [0], 0
        for physical in io.StringIO(text, newline=""):
            position += len(physical)
            self.starts.append(position)
        self.base = offset_of_text

    def problem(self, row: list[str], columns: dict[str, int], first: int, last: int) -> tuple[str, int] | None:
        """(column, byte offset) of the first U+FFFD in a read cell of the row on lines first..last."""
        for key, name in _READ_COLUMNS.items():
            index = columns.get(key)
            cell = row[index] if index is not None and index < len(row) else ""
            if _REPLACEMENT in cell:
                low, high = self.starts[first - 1], self.starts[min(last, len(self.starts) - 1)]
                start = self.text.find(cell, low, high)
                at = start + cell.index(_REPLACEMENT) if start >= 0 else self.text.find(_REPLACEMENT, low, high)
                return name, self.base + len(self.text[:max(at, 0)].encode("utf-8", "surrogatepass"))
        return None


def _check_text(problems: _Problems, line: int, assignment_id: str, feedback: str | None, reason: str | None,
                required: bool) -> bool:
    try:
        rules.validate_feedback(feedback, required=required)
        rules.validate_reason(reason)
    except DecisionError as error:
        problems.add(line, error.message, assignment_id, "feedback" if error.code == "INVALID_FEEDBACK" else "reason")
        return False
    return True


def _check_duplicates(problems: _Problems, items: list[BatchItem], field_name: str) -> None:
    first_line: dict[str, int] = {}
    for item in items:
        if item.assignment_id in first_line:
            problems.add(item.line, f"assignment {item.assignment_id} also appears on line "
                         f"{first_line[item.assignment_id]}; give each assignment once", item.assignment_id,
                         field_name)
        else:
            first_line[item.assignment_id] = item.line


def parse_results_csv(body: str | bytes, reason: str | None = None, strict_utf8: bool = False) -> ParsedBatch:
    """Parse the website's batch-results CSV (BOM, quoting, extra columns and multi-line cells allowed).

    `strict_utf8` (the API): a read cell holding U+FFFD, i.e. bytes that were not UTF-8, is a bad row naming
    its byte offset. Bytes are decoded as UTF-8 (bytes that are not become U+FFFD, as API Gateway does)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    bom = len(text) - len(text.lstrip("\ufeff"))
    text = text[bom:]
    utf8 = _Utf8Check(text, offset_of_text=3 * bom) if strict_utf8 and _REPLACEMENT in text else None
    reader = csv.reader(io.StringIO(text, newline=""))
    columns = _header_columns(reader)
    problems, parsed = _Problems(), ParsedBatch()
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.add(line, f"unreadable CSV: {error}", None, "row")
            break
        if any(value.strip() for value in row):
            _csv_row(problems, parsed, row, columns, line, reason,
                     utf8.problem(row, columns, line, reader.line_num) if utf8 else None)
    _check_duplicates(problems, parsed.items, "AssignmentId")
    problems.raise_if_any("CSV")
    _check_size(parsed)
    return parsed


def _csv_row(problems: _Problems, parsed: ParsedBatch, row: list[str], columns: dict[str, int], line: int,
             reason: str | None, not_utf8: tuple[str, int] | None) -> None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else ""

    assignment_id, approve, reject_text = cell("assignmentid").strip(), cell("approve").strip(), cell("reject")
    hit_id = cell("hitid").strip() or None
    if not_utf8 is not None:
        column, offset = not_utf8
        problems.byte_offset = offset if problems.byte_offset is None else problems.byte_offset
        problems.add(line, f"{column} is not UTF-8 text: byte {offset} of the body is not UTF-8, or is U+FFFD "
                     "itself (API Gateway puts U+FFFD in place of bytes that are not UTF-8); save the file as UTF-8",
                     assignment_id or None, column)
    elif not is_mturk_id(assignment_id):
        problems.add(line, f"AssignmentId {assignment_id!r} is not an MTurk assignment id", assignment_id or None,
                     "AssignmentId")
    elif hit_id is not None and not is_mturk_id(hit_id):
        problems.add(line, f"HITId {hit_id!r} is not an MTurk HIT id", assignment_id, "HITId")
    elif approve and approve.lower() != "x":
        problems.add(line, f"Approve must be 'x' or empty, not {approve!r}", assignment_id, "Approve")
    elif approve and reject_text.strip():
        problems.add(line, "both Approve and Reject are filled in; keep one", assignment_id, "Approve|Reject")
    elif approve:
        parsed.items.append(BatchItem(line, assignment_id, Action.APPROVE, reason=reason, hit_id=hit_id,
                                      approve_or_reverse=True))
    elif reject_text.strip():
        if _check_text(problems, line, assignment_id, reject_text, reason, required=True):
            parsed.items.append(BatchItem(line, assignment_id, Action.REJECT, feedback=reject_text,
                                          reason=reason, hit_id=hit_id))
    else:
        parsed.skipped.append(SkippedRow(line, assignment_id, "neither Approve nor Reject is filled in"))


def parse_item_list(items: object) -> ParsedBatch:
    """The JSON form: `[{assignmentId, action, feedback?, reason?, hitId?}]`; line = 1-based position."""
    if not isinstance(items, list) or not items:
        raise InvalidBatch("Give the decisions as a non-empty JSON list under 'items'.", errors=[])
    problems = _Problems()
    parsed = ParsedBatch()
    allowed = {"assignmentId", "action", "feedback", "reason", "hitId"}
    for position, entry in enumerate(items, start=1):
        if not isinstance(entry, dict):
            problems.add(position, "each item must be an object", None, "item")
            continue
        assignment_id = entry.get("assignmentId")
        unknown = sorted(set(entry) - allowed)
        if unknown:
            problems.add(position, f"unknown field(s): {', '.join(unknown)}",
                         assignment_id if isinstance(assignment_id, str) else None, unknown[0])
            continue
        if not is_mturk_id(assignment_id):
            problems.add(position, "assignmentId must be an MTurk assignment id (A-Z, 0-9)", None, "assignmentId")
            continue
        try:
            action = Action(entry.get("action"))
        except ValueError:
            problems.add(position, "action must be one of reject, reverse, approve", assignment_id, "action")
            continue
        feedback, reason, hit_id = entry.get("feedback"), entry.get("reason"), entry.get("hitId")
        not_text = [name for name in ("feedback", "reason", "hitId") if entry.get(name) is not None
                    and not isinstance(entry.get(name), str)]
        if not_text:
            problems.add(position, "feedback, reason and hitId must be strings", assignment_id, not_text[0])
            continue
        if hit_id is not None and not is_mturk_id(hit_id):
            problems.add(position, "hitId must be an MTurk HIT id (A-Z, 0-9)", assignment_id, "hitId")
            continue
        if _check_text(problems, position, assignment_id, feedback, reason, required=action is Action.REJECT):
            parsed.items.append(BatchItem(position, assignment_id, action, feedback or None, reason or None, hit_id))
    _check_duplicates(problems, parsed.items, "assignmentId")
    problems.raise_if_any("item list")
    _check_size(parsed)
    return parsed


def _check_size(parsed: ParsedBatch) -> None:
    if len(parsed.items) > MAX_BATCH_ITEMS:
        raise InvalidBatch(f"A batch holds at most {MAX_BATCH_ITEMS} decisions; this one has {len(parsed.items)}. "
                           "Split it into several uploads.", errors=[])
    if not parsed.items and not parsed.skipped:
        raise InvalidBatch("The batch has no rows.", errors=[])


# ---- the same CSV, uploaded and streamed (service/uploads.py) -------------------------------------------------
#: An uploaded batch-results CSV holds at most this many decisions (POST /batches takes MAX_BATCH_ITEMS).
MAX_UPLOAD_ITEMS = 100_000
#: The errors of a refused upload that are kept and answered; `errorCount` counts them all.
MAX_ERRORS_KEPT = 200
#: A physical line longer than this is not a batch-results CSV (the reader never holds more than one line).
MAX_LINE_BYTES = 16 * 1024 * 1024
# One limit for every CSV this process reads, set once at import (the csv module's limit is process-wide: setting
# it per reader would change it under another thread's reader): a long free-text Answer.* cell is not an error,
# whether the file came in a request or as an upload.
csv.field_size_limit(MAX_LINE_BYTES)
#: What a file that is not text starts with, and what it probably is.
_NOT_TEXT = ((b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"), (b"\x1f\x8b", "gzip-compressed data"),
             (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook"), (b"%PDF", "a PDF document"))


class BatchNotReady(DecisionError):
    """An uploaded batch that has no plan yet (its CSV is awaited or being parsed)."""

    code = "BATCH_NOT_READY"


def not_text(head: bytes) -> str | None:
    """What the first bytes of an upload say it is when it is not a text file (None: it may be a CSV)."""
    for signature, what in _NOT_TEXT:
        if head.startswith(signature):
            return what
    return "a binary file (it contains NUL bytes)" if b"\x00" in head else None


@dataclass
class _FirstProblems(_Problems):
    """Problems counted in full, of which the first `keep` are kept (a refused upload answers those)."""

    keep: int = MAX_ERRORS_KEPT
    count: int = 0

    def add(self, line: int | None, message: str, assignment_id: str | None, field_name: str) -> None:
        self.count += 1
        if len(self.errors) < self.keep:
            super().add(line, message, assignment_id, field_name)

    def then(self, other: _FirstProblems) -> _FirstProblems:
        """These problems, then `other`'s (the duplicates come after the rows' own problems, as in the CSV)."""
        return _FirstProblems((self.errors + other.errors)[:self.keep], self.byte_offset, self.keep,
                              self.count + other.count)

    def raise_if_any(self, what: str) -> None:
        if self.count:
            shown = "; ".join(f"line {e.get('line', '?')}: {e['message']}" for e in self.errors[:3])
            more = f" (and {self.count - 3} more)" if self.count > 3 else ""
            raise InvalidBatch(f"{self.count} bad row(s) in the {what}; nothing was queued. {shown}{more}",
                               errors=self.errors, errorCount=self.count, byteOffset=self.byte_offset)


class _RawStream(io.RawIOBase):
    """A `read(n)` (an S3 streaming body, a file) as a raw stream, for io.BufferedReader."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        super().__init__()
        self._read = read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        data = self._read(len(view))
        view[:len(data)] = data
        return len(data)


class _TextLines:
    """The lines of a binary stream as text, as `parse_results_csv` splits them (UTF-8, bytes that are not become
    U+FFFD as in the API; `\r\n`, `\r` and `\n` end a line), one at a time, keeping the current record's lines
    with their byte offsets (a cell that is not UTF-8 is reported by offset, as the API reports it)."""

    def __init__(self, stream: io.BufferedReader[_RawStream]) -> None:
        self._text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        self.offset, self.number = 0, 0
        self.record: list[tuple[int, str]] = []

    def __iter__(self) -> _TextLines:
        return self

    def __next__(self) -> str:
        text = self._text.readline(MAX_LINE_BYTES + 1)
        if not text:
            raise StopIteration
        self.number += 1
        if len(text) > MAX_LINE_BYTES:
            raise InvalidBatch(f"Line {self.number} is longer than {MAX_LINE_BYTES // (1024 * 1024)} MB: this is not "
                               "a batch-results CSV.", errors=[{"line": self.number, "field": "row",
                                                                "message": "line too long"}])
        if self.number == 1 and text.startswith("\ufeff"):
            self.offset, text = 3, text[1:]
        self.record.append((self.offset, text))
        self.offset += len(text.encode("utf-8", "surrogatepass"))
        return text

    def not_utf8(self, row: list[str], columns: dict[str, int]) -> tuple[str, int] | None:
        """(column, byte offset) of the first U+FFFD in a read cell of the record just read."""
        for key, name in _READ_COLUMNS.items():
            index = columns.get(key)
            cell = row[index] if index is not None and index < len(row) else ""
            if _REPLACEMENT in cell:
                text = "".join(part for _, part in self.record)
                start = text.find(cell)
                at = start + cell.index(_REPLACEMENT) if start >= 0 else text.find(_REPLACEMENT)
                return name, self.record[0][0] + len(text[:max(at, 0)].encode("utf-8", "surrogatepass"))
        return None


class ResultsCsvStream:
    """The batch-results CSV read row by row from a binary stream (`read(n)`), by the rules of
    `parse_results_csv`: the same rows become the same items, skipped rows and line-numbered errors, duplicates
    included. Only one line is held at a time (and each assignment id once, for the duplicate check), so memory
    does not grow with the file. Iterating yields the good rows (`BatchItem`, `SkippedRow`); `raise_if_any`
    then refuses the batch as `parse_results_csv` would (its first MAX_ERRORS_KEPT errors and their count)."""

    def __init__(self, read: Callable[[int], bytes], reason: str | None = None, max_items: int = MAX_UPLOAD_ITEMS) -> None:
        self.stream = io.BufferedReader(_RawStream(read), buffer_size=1024 * 1024)
        self.reason, self.max_items = reason, max_items
        self.items = self.skipped = 0
        self.problems, self.duplicates = _FirstProblems(), _FirstProblems()
        self._first_line: dict[str, int] = {}

    def peek(self, size: int = 512) -> bytes:
        """The first bytes (before iterating): what `not_text` judges."""
        return self.stream.peek(size)[:size]

    def __iter__(self) -> Iterator[BatchItem | SkippedRow]:
        lines = _TextLines(self.stream)
        reader = csv.reader(lines)
        columns = _header_columns(reader)
        scratch = ParsedBatch()
        while True:
            line, lines.record = reader.line_num + 1, []
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                self.problems.add(line, f"unreadable CSV: {error}", None, "row")
                break
            if any(value.strip() for value in row):
                _csv_row(self.problems, scratch, row, columns, line, self.reason, lines.not_utf8(row, columns))
                yield from self._taken(scratch)

    def _taken(self, scratch: ParsedBatch) -> Iterator[BatchItem | SkippedRow]:
        for skipped in scratch.skipped:
            self.skipped += 1
            yield skipped
        for item in scratch.items:
            first = self._first_line.get(item.assignment_id)
            if first is not None:
                self.duplicates.add(item.line, f"assignment {item.assignment_id} also appears on line {first}; give "
                                    "each assignment once", item.assignment_id, "AssignmentId")
                continue
            self.items += 1
            if self.items <= self.max_items:  # beyond it the batch is refused: stop remembering ids
                self._first_line[item.assignment_id] = item.line
            yield item
        scratch.items.clear()
        scratch.skipped.clear()

    def raise_if_any(self) -> None:
        """After iterating: refuse the batch for its bad rows, its size, or for having no rows."""
        self.problems.then(self.duplicates).raise_if_any("CSV")
        if self.items > self.max_items:
            raise InvalidBatch(f"An uploaded batch holds at most {self.max_items} decisions; this one has "
                               f"{self.items}. Split it into several uploads.", errors=[])
        if not self.items and not self.skipped:
            raise InvalidBatch("The batch has no rows.", errors=[])


def _header_columns(reader: Iterator[list[str]]) -> dict[str, int]:
    """The header's columns by lower-case name (a request's CSV and an upload's alike); a header without
    AssignmentId, Approve and Reject is refused, naming what is missing."""
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise InvalidBatch("The CSV is empty: expected the batch-results header row with AssignmentId, "
                           "Approve and Reject columns.", errors=[]) from None
    columns = {name.strip().lower(): index for index, name in enumerate(header)}
    missing = [name for name in ("assignmentid", "approve", "reject") if name not in columns]
    if missing:
        wanted = ", ".join(_READ_COLUMNS[m] for m in missing)
        raise InvalidBatch(f"The CSV header has no {wanted} column: upload the batch-results file as downloaded "
                           "from the requester website, with Approve and Reject filled in.",
                           errors=[{"line": 1, "field": "header", "message": f"missing column(s): {wanted}"}])
    return columns
