"""The feedback a worker will see, checked as MTurk (and the API) check it, before anything is sent.

The same rules as the service's `domain/rules.validate_feedback` (the CLI does not import the service): at
most 1,024 characters, no ASCII control characters other than tab, line feed and carriage return, valid
Unicode. `static/console.js` applies them again as the requester types.
"""
from __future__ import annotations

from dataclasses import dataclass

FEEDBACK_MAX_CHARS = 1024
#: ASCII 0-8, 11, 12 and 14-31: tab, line feed and carriage return are the only controls MTurk accepts.
FORBIDDEN_CODEPOINTS = frozenset([*range(9), 11, 12, *range(14, 32)])
SUBJECT_MAX_CHARS = 200
MESSAGE_MAX_CHARS = 4096


@dataclass(frozen=True)
class FeedbackProblem:
    """Why MTurk would refuse the text: the API's rule name, a sentence, and where (positions, 0-based)."""

    rule: str
    message: str
    positions: tuple[int, ...] = ()


def normalized(text: str | None) -> str:
    """A textarea's value as the requester typed it: browsers send each line break as CR LF."""
    return (text or "").replace("\r\n", "\n")


def forbidden_positions(text: str) -> tuple[int, ...]:
    return tuple(i for i, char in enumerate(text) if ord(char) in FORBIDDEN_CODEPOINTS or 0xD800 <= ord(char) <= 0xDFFF)


def check_feedback(text: str, *, required: bool) -> FeedbackProblem | None:
    """None when MTurk accepts `text` as RequesterFeedback; else the first rule it breaks."""
    if not text:
        return FeedbackProblem("REQUIRED", "Feedback is required to reject: the worker sees it on their Status "
                                           "page.") if required else None
    if required and not text.strip():
        return FeedbackProblem("REQUIRED", "Feedback must contain visible text, not only whitespace.")
    positions = forbidden_positions(text)
    if positions:
        first = positions[0]
        return FeedbackProblem("FORBIDDEN_CHARACTER",
                               f"Feedback contains the control character U+{ord(text[first]):04X} at position "
                               f"{first}; MTurk refuses ASCII 0-8, 11, 12 and 14-31 (tab, line feed and carriage "
                               f"return are allowed). {len(positions)} such character(s), marked below.", positions)
    if len(text) > FEEDBACK_MAX_CHARS:
        return FeedbackProblem("MAX_LENGTH", f"Feedback is {len(text)} characters; MTurk accepts at most "
                                             f"{FEEDBACK_MAX_CHARS}. The part past the limit is marked below.",
                               tuple(range(FEEDBACK_MAX_CHARS, len(text))))
    return None


def check_notification(subject: str, message: str) -> str | None:
    """None when MTurk's NotifyWorkers accepts the subject and message; else why not."""
    if not subject.strip() or not message.strip():
        return "A message to the worker needs both a subject and a message."
    if len(subject) > SUBJECT_MAX_CHARS:
        return f"The subject is {len(subject)} characters; MTurk accepts at most {SUBJECT_MAX_CHARS}."
    if len(message) > MESSAGE_MAX_CHARS:
        return f"The message is {len(message)} characters; MTurk accepts at most {MESSAGE_MAX_CHARS}."
    return None
