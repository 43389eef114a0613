"""Request bodies of the decision API. Feedback rules live in domain.rules, so the caller is told which rule."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Optional

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mturk_decisions.domain.errors import InvalidCursor
from mturk_decisions.domain.ids import is_worker_id
from mturk_decisions.domain.notice import WorkerNotice, validate_notice

#: For Powertools' `Path(pattern=...)` and the OpenAPI document. pydantic-core matches it with Rust's regex
#: engine, where `$` is the end of the text: "ABC\n" is refused (Python's `re.match` would accept it; Python
#: code checks ids with `domain.ids`). A `%0A` after the last path segment never reaches this pattern: the
#: routes' own matching drops it, so `api.body_guard.check_path` refuses control characters in the path first.
ASSIGNMENT_ID_PATTERN = r"^[A-Z0-9]{1,64}$"
WORKER_ID_PATTERN = r"^A[A-Z0-9]{1,63}$"
BATCH_ID_PATTERN = r"^[a-f0-9]{32}$"
#: What each pattern means, for the answers (a caller should not have to read a regular expression).
PATTERN_WORDS = {
    ASSIGNMENT_ID_PATTERN: "an MTurk id: 1–64 capital letters and digits",
    WORKER_ID_PATTERN: "an MTurk worker id: A, then 1–63 capital letters and digits",
    BATCH_ID_PATTERN: "a batch id: 32 lowercase hexadecimal digits",
}


def pattern_in_words(pattern: str) -> str:
    return PATTERN_WORDS.get(pattern, f"text matching {pattern}")


_FEEDBACK = (
    "What the worker sees on their Status page. At most 1024 characters; no ASCII control characters "
    "other than tab, line feed and carriage return."
)
_REASON = "An internal note kept in the audit; never sent to MTurk or shown to the worker. At most 1000 characters."


class NotifyWorkerBody(BaseModel):
    """A message to the worker, sent after the decision succeeds (MTurk NotifyWorkers, by e-mail). Its rules are
    checked before anything is decided (400 INVALID_NOTIFICATION names the field and the rule)."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="The e-mail's subject: 1-200 characters, no control characters.",
                         json_schema_extra={"minLength": 1, "maxLength": 200})
    message: str = Field(description="The e-mail's text: 1-4,096 characters; no control characters other than "
                         "tab, line feed and carriage return.", json_schema_extra={"minLength": 1, "maxLength": 4096})


_NOTIFY = ("Tell the worker by e-mail (MTurk NotifyWorkers) once the decision has succeeded; the answer's "
           "`notification` says whether MTurk sent it. Never sent by a dry run, nor twice for one Idempotency-Key.")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: str = Field(description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)
    provisionalFor: Optional[str] = Field(
        default=None, max_length=32,
        description="Make the rejection provisional: reversed automatically after this ISO 8601 duration "
        "(e.g. PT48H) unless confirmed with POST /assignments/{id}/confirm; always before the 30-day window closes.",
    )
    notifyWorker: Optional[NotifyWorkerBody] = Field(default=None, description=_NOTIFY)


class ReverseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Optional[str] = Field(default=None, description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)
    at: Optional[datetime] = Field(default=None, description="Schedule the reversal for this time (ISO 8601) "
                                   "instead of now; it must be before the reversal deadline. Cancellable.")
    notifyWorker: Optional[NotifyWorkerBody] = Field(default=None, description=_NOTIFY + " Not with `at`.")


class NotificationsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = True


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Optional[str] = Field(default=None, description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)


def _worker_id(value: str) -> str:
    if not is_worker_id(value):
        raise ValueError("not an MTurk worker id: A followed by 1-63 of A-Z and 0-9, and nothing after")
    return value


#: The pattern documents it; the validator holds whatever regex engine pydantic is configured with.
WorkerId = Annotated[str, Field(pattern=WORKER_ID_PATTERN), AfterValidator(_worker_id)]


class HitReversalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Optional[str] = Field(default=None, description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)
    workerIds: Optional[list[WorkerId]] = Field(
        default=None, max_length=1000, description="Only reverse these workers' rejections."
    )
    notifyWorker: Optional[NotifyWorkerBody] = Field(
        default=None, description="Tell each worker whose rejection is reversed (MTurk NotifyWorkers, 100 workers "
        "a call, sent by the batch worker as each chunk's reversals succeed); each decision's audit record keeps "
        "the message and MTurk's answer for its worker.")


_LINE_CURSOR = re.compile(r"[0-9]{1,9}")


def line_cursor(cursor: str | None) -> int:
    """The line a page of a batch's items continues after (`nextCursor` of the previous page; 0: the first).
    ASCII digits only: `str.isdigit` also accepts superscripts and other scripts' digits that `int` refuses."""
    if not cursor:
        return 0
    if not _LINE_CURSOR.fullmatch(cursor):
        raise InvalidCursor("The cursor is not valid for this batch; start again without it.", field="cursor")
    return int(cursor)


#: The `dryRun` query parameter of the routes that decide or queue.
DryRun = Annotated[bool, Query(description="Run every pre-check and return the plan; write nothing.")]


def notice_of(notify: NotifyWorkerBody | None) -> WorkerNotice | None:
    """The worker's notice checked by its rules (400 INVALID_NOTIFICATION), before anything is decided."""
    return None if notify is None else validate_notice(notify.subject, notify.message)
