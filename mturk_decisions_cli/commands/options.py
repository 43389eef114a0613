"""Options and checks several commands share (all checked before anything is sent)."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def iso_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.") from None
    return value


def time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and "T" not in value.upper():
        raise click.BadParameter("give a date and a time, e.g. 2026-11-30T09:00:00Z (UTC if no offset).")
    return iso_option(ctx, param, value)


def duration_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """ISO 8601 durations pass as they are; 90m, 48h, 3d are shorthands for PT90M, PT48H, P3D."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+)\s*([smhdSMHD])", value.strip())
    if match:
        amount, unit = match.group(1), match.group(2).upper()
        return f"P{amount}D" if unit == "D" else f"PT{amount}{unit}"
    if not re.fullmatch(r"P[0-9DTHMS]+", value.strip().upper()):
        raise click.BadParameter("use an ISO 8601 duration (PT48H, P3D) or 90m / 48h / 3d.")
    return value.strip().upper()


def apply_options(options: list[Callable[[F], F]], function: F) -> F:
    for option in reversed(options):
        function = option(function)
    return function


def decision_options(feedback_required: bool) -> Callable[[F], F]:
    """ASSIGNMENT_ID, --feedback, --reason, --dry-run, --idempotency-key: a single decision's."""
    def decorate(function: F) -> F:
        return apply_options([
            click.argument("assignment_id", metavar="ASSIGNMENT_ID"),
            click.option("--feedback", required=feedback_required, metavar="TEXT",
                         help="What the worker sees (at most 1024 characters)."
                         + (" Required." if feedback_required else "")),
            click.option("--reason", metavar="TEXT", help="Internal note kept in the audit; never sent to MTurk."),
            click.option("--dry-run", is_flag=True, help="Run every pre-check and show the plan; change nothing."),
            click.option("--idempotency-key", metavar="KEY",
                         help="Idempotency-Key header (default: a new uuid4). Re-running with the same key never "
                              "applies the decision twice."),
        ], function)

    return decorate


def notify_options(function: F) -> F:
    """--notify-subject / --notify-message: a message to the worker once the decision succeeded (both or none)."""
    return apply_options([
        click.option("--notify-subject", metavar="TEXT",
                     help="E-mail the worker once the decision succeeded (MTurk NotifyWorkers): its subject, "
                          "at most 200 characters, e.g. \"Your rejected work was approved\". Needs --notify-message."),
        click.option("--notify-message", metavar="TEXT",
                     help="The e-mail's text, at most 4,096 characters. Needs --notify-subject."),
    ], function)


def notify_worker(subject: str | None, message: str | None) -> dict[str, str] | None:
    """The body's `notifyWorker`, or None; one option without the other is a usage error (nothing sent)."""
    if subject is None and message is None:
        return None
    if subject is None or message is None:
        raise click.UsageError("Give both --notify-subject and --notify-message, or neither.")
    return {"subject": subject, "message": message}


def bulk_options(function: F) -> F:
    """--dry-run, --yes, --watch/--no-watch: a batch's."""
    return apply_options([
        click.option("--dry-run", is_flag=True, help="Show the plan (every pre-check, costs) and change nothing."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (and skip the dry run)."),
        click.option("--watch/--no-watch", default=True, show_default=True,
                     help="Follow the batch with a progress bar until it completes."),
    ], function)
