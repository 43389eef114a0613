"""Request bodies of the decision API. Feedback rules live in domain.rules, so the caller is told which rule."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from pydantic import BaseModel, ConfigDict, Field

ASSIGNMENT_ID_PATTERN = r"^[A-Z0-9]{1,64}$"
_FEEDBACK = (
    "What the worker sees on their Status page. At most 1024 characters; no ASCII control characters "
    "other than tab, line feed and carriage return."
)
_REASON = "An internal note kept in the audit; never sent to MTurk or shown to the worker. At most 1000 characters."


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: str = Field(description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)
    provisionalFor: Optional[str] = Field(
        default=None, max_length=32,
        description="Make the rejection provisional: reversed automatically after this ISO 8601 duration "
        "(e.g. PT48H) unless confirmed with POST /assignments/{id}/confirm; always before the 30-day window closes.",
    )


class ReverseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Optional[str] = Field(default=None, description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)
    at: Optional[datetime] = Field(default=None, description="Schedule the reversal for this time (ISO 8601) "
                                   "instead of now; it must be before the reversal deadline. Cancellable.")


class NotificationsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool = True


class DecisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Optional[str] = Field(default=None, description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)


class HitReversalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: Optional[str] = Field(default=None, description=_FEEDBACK)
    reason: Optional[str] = Field(default=None, description=_REASON)
    workerIds: Optional[list[Annotated[str, Field(pattern=r"^A[A-Z0-9]{1,63}$")]]] = Field(
        default=None, max_length=1000, description="Only reverse these workers' rejections."
    )
