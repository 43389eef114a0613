"""`mturk-decisions`: reject MTurk assignments, reverse rejections and approve work through the
mturk-decisions API (API Gateway + Lambda, IAM auth), from a requester's terminal or script.

Commands: reject, reverse, approve, show, history, apply (a batch-results CSV), reverse-hit, batch, and for
automatic reversals confirm and cancel-reversal (with `reject --provisional-for` and `reverse --at`).
Requests are SigV4-signed for `execute-api` with the standard AWS credential chain. Single writes carry
an `Idempotency-Key` (a fresh uuid4 unless `--idempotency-key` is given), so retrying them is safe.

Exit codes (scripts can rely on them):

    0  success
    1  aborted at the confirmation (nothing was changed), or a batch finished with failed or refused items
    2  usage error (click's: a bad option or argument; nothing was sent)
    3  refused by a pre-check of the API (HTTP 400, 402, 404, 409, 413, 422)
    4  authentication / authorization (HTTP 401, 403)
    5  MTurk throttled or unavailable, or a server error (HTTP 429, 5xx)
    6  network or configuration (no API URL, no AWS credentials, unreachable API, timeout)

With `--json`, stdout carries only JSON: the API's answer as-is (for an API error, its error body), pages
merged into one document where a command follows `nextCursor`; anything for people goes to stderr (and
an error of the CLI itself, such as a missing API URL, leaves stdout empty).
"""
from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import click

from mturk_decisions_cli import __version__, config
from mturk_decisions_cli.client import ApiClient, ApiResponse, quote_segment
from mturk_decisions_cli.errors import (
    EXIT_CODES_HELP,
    Aborted,
    ApiError,
    BatchFailures,
    CliError,
    ExitCode,
    TransportError,
    hint_for,
    refusals_hint,
)
from mturk_decisions_cli.render import Renderer
from mturk_decisions_cli.uploads import UPLOAD_THRESHOLD_BYTES, upload_sender, whole_file

#: Seconds between two polls of a batch while watching it (grows up to POLL_MAX_SECONDS).
POLL_SECONDS = 1.0
POLL_MAX_SECONDS = 5.0
#: API Gateway accepts 10 MB, but a Lambda proxy integration only 6 MB of request payload.
MAX_UPLOAD_BYTES = 6 * 1024 * 1024
PAGE_LIMIT = 100
_TERMINAL_BATCH_STATES = {"COMPLETED", "FAILED", "CANCELLED", "CANCELED", "ABORTED"}
_ITEM_STATUSES = ["QUEUED", "SUCCEEDED", "FAILED", "REFUSED", "SKIPPED", "DEAD_LETTERED"]
#: Items whose decision did not happen: listed after a batch, and the reason for exit code 1.
_PROBLEM_STATUSES = ("FAILED", "REFUSED", "DEAD_LETTERED")


@dataclass
class App:
    """What every command shares: options, the renderer, and the API client (built on first use)."""

    api_url: str | None = None
    region: str | None = None
    profile: str | None = None
    json_mode: bool = False
    timeout: float = config.DEFAULT_TIMEOUT
    retries: int = 2
    renderer: Renderer = field(default_factory=Renderer)
    sleep: Callable[[float], None] = time.sleep
    idempotency_key: str | None = None
    _client: Any = None

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            self._client = self.build_client()
        return self._client

    def build_client(self) -> ApiClient:
        path = config.config_file_path()
        file_config = config.load_config_file(path)
        api_url = config.resolve_api_url(self.api_url, os.environ, file_config, path).value
        profile = config.resolve_profile(self.profile, file_config)
        session = config.aws_session(profile)
        region = config.resolve_region(self.region, api_url, os.environ, file_config,
                                       profile_region=session.region_name).value
        credentials = config.load_credentials(session, profile)
        return ApiClient(api_url, credentials, region, timeout=self.timeout, retries=self.retries)

    def call(self, method: str, path: str, **kwargs: Any) -> ApiResponse:
        """One API call; an error answer raises ApiError (exit code from its status)."""
        return self.client.request(method, path, **kwargs).raise_for_error()


class CliGroup(click.Group):
    """Turns CliError (API errors, configuration, network) into a clear message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            app = ctx.obj if isinstance(ctx.obj, App) else App()
            if isinstance(error, Aborted):
                app.renderer.say(app.renderer.err, error.message)
                raise click.exceptions.Exit(int(error.exit_code)) from None
            hint = error.hint
            if isinstance(error, ApiError) and not hint:
                hint = hint_for(error, idempotency_key=app.idempotency_key)
            elif isinstance(error, TransportError) and app.idempotency_key:
                hint = (f"The decision may or may not have been applied. Re-run the same command with "
                        f"--idempotency-key {app.idempotency_key}: it is safe and returns the outcome.")
            app.renderer.error(error, hint)
            raise click.exceptions.Exit(int(error.exit_code)) from None


def _iso_option(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use an ISO 8601 date or time, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.") from None
    return value


@click.group(cls=CliGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", metavar="URL",
              help="Base URL of the API, with its stage (e.g. https://ID.execute-api.REGION.amazonaws.com/v1). "
                   "Default: $MTURK_DECISIONS_API_URL, else apiUrl in ~/.config/mturk-decisions/config.json.")
@click.option("--region", metavar="REGION",
              help="Region to sign for. Default: the region in an execute-api URL, else $AWS_REGION / "
                   "$AWS_DEFAULT_REGION, else us-east-1.")
@click.option("--profile", metavar="NAME", help="AWS profile for the credentials (default: the standard AWS chain).")
@click.option("--json", "json_mode", is_flag=True,
              help="Machine output: the API's JSON on stdout and nothing else (messages go to stderr).")
@click.option("--timeout", type=click.FloatRange(min=1), default=config.DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="HTTP timeout per request.")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Automatic retries of reads and single decisions (safe: same Idempotency-Key) on network "
                   "errors, 429 and 5xx. Batch submissions are never retried.")
@click.version_option(__version__, "--version", prog_name="mturk-decisions")
@click.pass_context
def cli(ctx: click.Context, api_url, region, profile, json_mode, timeout, retries) -> None:
    """Reject MTurk assignments and reverse rejections, audited, through the mturk-decisions API.

    \b
    Examples:
      mturk-decisions reject 3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B --feedback "The labels do not match."
      mturk-decisions reverse 3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B --reason "QA rule 7 was wrong"
      mturk-decisions history --worker A1DEMOWORKERALICE --since 2026-11-01
      mturk-decisions apply Batch_123_batch_results.csv
    """
    given = ctx.obj if isinstance(ctx.obj, App) else None
    app = App(api_url=api_url, region=region, profile=profile, json_mode=json_mode, timeout=timeout,
              retries=retries, renderer=Renderer(json_mode=json_mode))
    if given is not None:  # tests hand in an App with a fake client
        app._client = given._client
        app.sleep = given.sleep
    elif ctx.obj is not None and hasattr(ctx.obj, "request"):
        app._client = ctx.obj
    ctx.obj = app


pass_app = click.make_pass_decorator(App)


# -- single decisions -------------------------------------------------------------------------------------
def _decide(app: App, action: str, assignment_id: str, feedback: str | None, reason: str | None, dry_run: bool,
            idempotency_key: str | None, **extra: Any) -> None:
    body = {k: v for k, v in (("feedback", feedback), ("reason", reason), *extra.items()) if v is not None}
    path = f"/assignments/{quote_segment(assignment_id)}/{action}"
    if dry_run:
        response = app.call("POST", path, json=body, query={"dryRun": "true"}, retry=True)
        if app.json_mode:
            app.renderer.json(response.body)
        else:
            app.renderer.single_plan(response.body)
        return
    app.idempotency_key = idempotency_key or str(uuid.uuid4())
    response = app.call("POST", path, json=body, headers={"Idempotency-Key": app.idempotency_key})
    if app.json_mode:
        app.renderer.json(response.body)
    else:
        app.renderer.decision(response.body, action)


def _decision_options(feedback_required: bool) -> Callable:
    def decorate(function: Callable) -> Callable:
        options = [
            click.argument("assignment_id", metavar="ASSIGNMENT_ID"),
            click.option("--feedback", required=feedback_required, metavar="TEXT",
                         help="What the worker sees (at most 1024 characters)."
                         + (" Required." if feedback_required else "")),
            click.option("--reason", metavar="TEXT", help="Internal note kept in the audit; never sent to MTurk."),
            click.option("--dry-run", is_flag=True, help="Run every pre-check and show the plan; change nothing."),
            click.option("--idempotency-key", metavar="KEY",
                         help="Idempotency-Key header (default: a new uuid4). Re-running with the same key never "
                              "applies the decision twice."),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _notify_options(function: Callable) -> Callable:
    """--notify-subject / --notify-message: a message to the worker once the decision succeeded (both or none)."""
    for option in reversed([
        click.option("--notify-subject", metavar="TEXT",
                     help="E-mail the worker once the decision succeeded (MTurk NotifyWorkers): its subject, "
                          "at most 200 characters, e.g. \"Your rejected work was approved\". Needs --notify-message."),
        click.option("--notify-message", metavar="TEXT",
                     help="The e-mail's text, at most 4,096 characters. Needs --notify-subject."),
    ]):
        function = option(function)
    return function


def _notify_worker(subject: str | None, message: str | None) -> dict[str, str] | None:
    """The body's `notifyWorker`, or None; one option without the other is a usage error (nothing sent)."""
    if subject is None and message is None:
        return None
    if subject is None or message is None:
        raise click.UsageError("Give both --notify-subject and --notify-message, or neither.")
    return {"subject": subject, "message": message}


def _duration_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
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


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and "T" not in value.upper():
        raise click.BadParameter("give a date and a time, e.g. 2026-11-30T09:00:00Z (UTC if no offset).")
    return _iso_option(ctx, param, value)


@cli.command(epilog=EXIT_CODES_HELP, short_help="Reject an assignment with feedback.")
@_decision_options(feedback_required=True)
@click.option("--provisional-for", metavar="DURATION", callback=_duration_option,
              help="Provisional rejection: reversed automatically after this period (PT48H, 48h, 3d) unless "
                   "confirmed with `mturk-decisions confirm ID`.")
@_notify_options
@pass_app
def reject(app: App, assignment_id, feedback, reason, dry_run, idempotency_key, provisional_for, notify_subject,
           notify_message) -> None:
    """Reject a Submitted assignment with feedback the worker sees (POST /assignments/ID/reject)."""
    _decide(app, "reject", assignment_id, feedback, reason, dry_run, idempotency_key, provisionalFor=provisional_for,
            notifyWorker=_notify_worker(notify_subject, notify_message))


@cli.command(epilog=EXIT_CODES_HELP, short_help="Reverse a rejection (pay the worker).")
@_decision_options(feedback_required=False)
@click.option("--at", "at", metavar="TIME", callback=_time_option,
              help="Schedule the reversal for this time (ISO 8601, before the reversal deadline) instead of now; "
                   "cancel it with `mturk-decisions cancel-reversal ID`.")
@_notify_options
@pass_app
def reverse(app: App, assignment_id, feedback, reason, dry_run, idempotency_key, at, notify_subject,
            notify_message) -> None:
    """Reverse a rejection: approve it with OverrideRejection (POST /assignments/ID/reverse).

    MTurk allows it within 30 days of submission, while the HIT is not disposed, and with funds for the
    reward plus MTurk's fee. With --notify-subject and --notify-message the worker is e-mailed once the
    reversal succeeded ("Tell the worker the rejection was reversed").
    """
    _decide(app, "reverse", assignment_id, feedback, reason, dry_run, idempotency_key, at=at,
            notifyWorker=_notify_worker(notify_subject, notify_message))


@cli.command(epilog=EXIT_CODES_HELP, short_help="Approve a submitted assignment.")
@_decision_options(feedback_required=False)
@pass_app
def approve(app: App, assignment_id, feedback, reason, dry_run, idempotency_key) -> None:
    """Approve a Submitted assignment (POST /assignments/ID/approve)."""
    _decide(app, "approve", assignment_id, feedback, reason, dry_run, idempotency_key)


@cli.command(epilog=EXIT_CODES_HELP, short_help="Confirm a provisional rejection (no automatic reversal).")
@click.argument("assignment_id", metavar="ASSIGNMENT_ID")
@pass_app
def confirm(app: App, assignment_id: str) -> None:
    """Confirm a provisional rejection: it will not be reversed automatically (POST /assignments/ID/confirm)."""
    _change_schedule(app, "POST", f"/assignments/{quote_segment(assignment_id)}/confirm",
                     f"Confirmed the rejection of {assignment_id}: it will not be reversed.")


@cli.command("cancel-reversal", epilog=EXIT_CODES_HELP, short_help="Cancel a pending automatic reversal.")
@click.argument("assignment_id", metavar="ASSIGNMENT_ID")
@pass_app
def cancel_reversal(app: App, assignment_id: str) -> None:
    """Cancel a pending automatic reversal: scheduled, provisional or funds retry
    (DELETE /assignments/ID/scheduled-reversal)."""
    _change_schedule(app, "DELETE", f"/assignments/{quote_segment(assignment_id)}/scheduled-reversal",
                     f"Cancelled the automatic reversal of {assignment_id}.")


def _change_schedule(app: App, method: str, path: str, done: str) -> None:
    response = app.call(method, path)
    if app.json_mode:
        app.renderer.json(response.body)
    else:
        app.renderer.schedule(response.body, done)


# -- reads ------------------------------------------------------------------------------------------------
@cli.command(epilog=EXIT_CODES_HELP, short_help="An assignment's MTurk state and decision history.")
@click.argument("assignment_id", metavar="ASSIGNMENT_ID")
@pass_app
def show(app: App, assignment_id: str) -> None:
    """MTurk's current view of an assignment and its decision history (GET /assignments/ID)."""
    response = app.call("GET", f"/assignments/{quote_segment(assignment_id)}")
    if app.json_mode:
        app.renderer.json(response.body)
    else:
        app.renderer.assignment(response.body)


@cli.command(epilog=EXIT_CODES_HELP, short_help="The audit of a worker or a HIT.")
@click.option("--worker", "worker_id", metavar="WORKER_ID", help="The audit of one worker.")
@click.option("--hit", "hit_id", metavar="HIT_ID", help="The audit of one HIT.")
@click.option("--since", callback=_iso_option, metavar="DATE", help="From this ISO date or time (UTC by default).")
@click.option("--until", callback=_iso_option, metavar="DATE", help="Up to this ISO date or time (a date: its end).")
@click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True, help="Decisions per page.")
@click.option("--all", "all_pages", is_flag=True, help="Follow nextCursor to the last page.")
@click.option("--cursor", metavar="CURSOR", help="Start at this nextCursor of a previous page.")
@pass_app
def history(app: App, worker_id, hit_id, since, until, limit, all_pages, cursor) -> None:
    """The audit of one worker or one HIT, newest first (GET /decisions). Give --worker or --hit."""
    if bool(worker_id) == bool(hit_id):
        raise click.UsageError("Give exactly one of --worker or --hit.")
    query = {"workerId": worker_id, "hitId": hit_id, "since": since, "until": until, "limit": limit, "cursor": cursor}
    decisions: list[Any] = []
    first_body: dict[str, Any] = {}
    next_cursor = cursor
    while True:
        response = app.call("GET", "/decisions", query={**query, "cursor": next_cursor})
        body = response.body if isinstance(response.body, dict) else {}
        first_body = first_body or body
        decisions += [d for d in body.get("decisions") or [] if isinstance(d, dict)]
        next_cursor = body.get("nextCursor")
        if not all_pages or not next_cursor:
            break
    if app.json_mode:
        app.renderer.json({**first_body, "decisions": decisions, "nextCursor": next_cursor})
        return
    who = f"worker {worker_id}" if worker_id else f"HIT {hit_id}"
    if not decisions:
        app.renderer.line(f"No decisions for {who}" + (" in that period." if since or until else "."))
    else:
        columns = ("createdAt", "action", "state", "assignmentId", "hitId" if worker_id else "workerId", "actor",
                   "feedback", "reason", "error")
        app.renderer.human.print(app.renderer.decisions_table(
            decisions, title=f"Decisions for {who}, newest first ({len(decisions)})", columns=columns))
    if next_cursor:
        app.renderer.note(f"More decisions: add --all, or --cursor {next_cursor}")


_SCHEDULE_STATES = ["PENDING", "RUNNING", "DONE", "CANCELLED", "CONFIRMED", "FAILED", "EXPIRED"]


@cli.command(epilog=EXIT_CODES_HELP, short_help="Automatic reversals waiting (or in a state) by due time.")
@click.option("--state", type=click.Choice(_SCHEDULE_STATES, case_sensitive=False),
              help="Only this state. Default: the pending ones (PENDING and RUNNING).")
@click.option("--hit", "hit_id", metavar="HIT_ID", help="Only this HIT's.")
@click.option("--kind", type=click.Choice(["provisional", "scheduled", "funds-retry"]), help="Only this kind.")
@click.option("--due-before", callback=_iso_option, metavar="TIME",
              help="Only those due before this ISO date or time (UTC by default).")
@click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True, help="Reversals per page.")
@click.option("--all", "all_pages", is_flag=True, help="Follow nextCursor to the last page.")
@click.option("--cursor", metavar="CURSOR", help="Start at this nextCursor of a previous page.")
@pass_app
def pending(app: App, state, hit_id, kind, due_before, limit, all_pages, cursor) -> None:
    """Automatic reversals (provisional rejections, scheduled reversals, funds retries) by due time, earliest
    first (GET /scheduled-reversals). Confirm one with `confirm ID`, cancel it with `cancel-reversal ID`."""
    query = {"state": state.upper() if state else None, "hitId": hit_id, "kind": kind, "dueBefore": due_before,
             "limit": limit}
    schedules, first_body, next_cursor = [], {}, cursor
    while True:
        body = app.call("GET", "/scheduled-reversals", query={**query, "cursor": next_cursor}).body
        body = body if isinstance(body, dict) else {}
        first_body = first_body or body
        schedules += [s for s in body.get("scheduledReversals") or [] if isinstance(s, dict)]
        next_cursor = body.get("nextCursor")
        if not all_pages or not next_cursor:
            break
    if app.json_mode:
        app.renderer.json({**first_body, "scheduledReversals": schedules, "nextCursor": next_cursor})
        return
    what = f"{state.upper()} automatic reversals" if state else "Pending automatic reversals"
    if not schedules:
        app.renderer.line(f"No {what[0].lower() + what[1:]}" + (" matching the filters." if hit_id or kind or
                                                                  due_before else "."))
    else:
        app.renderer.human.print(app.renderer.schedules_table(schedules, f"{what}, by due time ({len(schedules)})"))
    if next_cursor:
        app.renderer.note(f"More automatic reversals: add --all, or --cursor {next_cursor}")


# -- bulk -------------------------------------------------------------------------------------------------
def _bulk(app: App, send: Callable[[bool], ApiResponse], source: str, dry_run: bool, yes: bool, watch: bool) -> None:
    """Dry run and plan, confirmation, submission, then watching: shared by `apply` and `reverse-hit`."""
    renderer = app.renderer
    if dry_run or not yes:
        plan_body = send(True).raise_for_error().body
        if dry_run and app.json_mode:
            renderer.json(plan_body)
            return
        totals = renderer.batch_plan(plan_body, source)
        if dry_run:
            return
        actionable = sum(_int(totals.get(k)) for k in ("reject", "reverse", "approve"))
        if actionable == 0:
            refused = _int(totals.get("refused"))
            renderer.line("Nothing to apply: " + ("every item is refused or skipped." if refused
                                                  else "every item is skipped.") + " Nothing was changed.")
            if refused:
                raise CliError("Every item was refused by a pre-check.", exit_code=ExitCode.REFUSED,
                               hint=refusals_hint([i for i in (plan_body.get("plan") or {}).get("items") or []
                                                   if isinstance(i, dict) and i.get("outcome") == "refused"]))
            return
        cost = (totals.get("cost") or {}).get("total") if isinstance(totals.get("cost"), dict) else None
        question = f"Apply {actionable} decision(s)" + (f" costing ${cost}" if cost not in (None, "0", "0.00") else "") + "?"
        if not _confirm(question, app.json_mode):
            raise Aborted("Aborted. Nothing was changed.")
    try:
        accepted = send(False).raise_for_error().body
    except TransportError as error:
        raise TransportError(error.message, hint=(
            "The batch may or may not have been created (a batch submission is never retried automatically). "
            "Check the recent decisions with `mturk-decisions history` before submitting it again.")) from None
    batch_id = accepted.get("batchId") if isinstance(accepted, dict) else None
    if not watch or not batch_id:
        if app.json_mode:
            renderer.json(accepted)
        else:
            renderer.batch_accepted(accepted)
            if batch_id:
                renderer.note(f"Watch it with: mturk-decisions batch {batch_id} --watch")
        return
    if not app.json_mode:
        renderer.batch_accepted(accepted)
    final = _watch(app, batch_id, _int(accepted.get("queued", accepted.get("total"))))
    _finish(app, final)


def _confirm(question: str, json_mode: bool) -> bool:
    """Ask on stderr. With --json, not even click.confirm's readline space may reach stdout."""
    try:
        if not json_mode:
            return click.confirm(question, default=False, err=True)
        click.echo(f"{question} [y/N]: ", nl=False, err=True)
        answer = sys.stdin.readline()
        if not answer:
            raise click.Abort()
        return answer.strip().lower() in ("y", "yes")
    except (click.Abort, KeyboardInterrupt, EOFError):
        click.echo("", err=True)
        return False


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _batch_path(batch_id: str) -> str:
    return f"/batches/{quote_segment(batch_id)}"


def _watch(app: App, batch_id: str, total: int) -> dict[str, Any]:
    """Poll the batch with a live progress bar until it is in a final state; return its last status."""
    interval = POLL_SECONDS
    body: dict[str, Any] = {}
    try:
        with app.renderer.progress(total) as progress:
            task = progress.add_task(f"batch {batch_id[:12]}", total=total or None)
            while True:
                try:
                    body = app.call("GET", _batch_path(batch_id), query={"limit": 1}).body
                except CliError as error:
                    error.hint = (error.hint or "") + (" " if error.hint else "") + (
                        f"The batch goes on: resume watching with `mturk-decisions batch {batch_id} --watch`.")
                    raise
                counts = body.get("counts") or {}
                status = str(body.get("status") or "?").upper()
                done = _int(body.get("done"))
                progress.update(task, completed=done, total=_int(body.get("total")) or total or None,
                                description=f"{status.lower():9} ok {_int(counts.get('succeeded'))} "
                                            f"failed {_int(counts.get('failed'))} refused {_int(counts.get('refused'))}")
                if status in _TERMINAL_BATCH_STATES:
                    break
                app.sleep(interval)
                interval = min(POLL_MAX_SECONDS, interval * 1.5)
    except KeyboardInterrupt:
        raise Aborted(f"Stopped watching. The batch goes on: see it with `mturk-decisions batch {batch_id} --watch`.") from None
    return body


def _finish(app: App, final: dict[str, Any]) -> None:
    """After watching: the summary (or the final status as JSON); exit 1 when items failed or were refused."""
    batch_id = str(final.get("batchId") or "")
    status_body = app.call("GET", _batch_path(batch_id)).body if batch_id else final
    counts = status_body.get("counts") or {}
    failed, refused = _int(counts.get("failed")), _int(counts.get("refused"))
    dead = _int(counts.get("deadLettered"))
    problems: list[dict[str, Any]] = []
    if app.json_mode:
        app.renderer.json(status_body)
    else:
        app.renderer.line()
        app.renderer.batch_status(status_body)
        if failed or refused or dead:
            problems = _problem_items(app, batch_id, status_body)
            if problems:
                app.renderer.human.print(app.renderer.batch_items_table(
                    problems, "Items that failed or were refused", limit=50, with_decision=False))
    if dead:
        raise BatchFailures(
            f"Batch {batch_id} finished with {dead} item(s) whose chunk went to the dead-letter queue "
            f"({failed} failed, {refused} refused).",
            hint=f"See them with `mturk-decisions batch {batch_id} --items --status DEAD_LETTERED`. An operator "
                 "redrives the work DLQ once MTurk is reachable again; the items are then applied, never twice.")
    if failed or refused:
        raise BatchFailures(
            f"Batch {batch_id} finished with {failed} failed and {refused} refused item(s).",
            hint=f"See them with `mturk-decisions batch {batch_id} --items --status {'FAILED' if failed else 'REFUSED'}`"
                 f"{' (and REFUSED)' if failed and refused else ''}; " + (
                     refusals_hint([i for i in problems if i.get("status") == "REFUSED"]) if problems and not failed
                     else "fix the cause and apply those items again."))


def _problem_items(app: App, batch_id: str, first: dict[str, Any], max_pages: int = 20) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    body, pages = first, 0
    while True:
        items += [i for i in body.get("items") or [] if isinstance(i, dict)
                  and str(i.get("status", "")).upper() in _PROBLEM_STATUSES]
        cursor, pages = body.get("nextCursor"), pages + 1
        if not cursor or pages >= max_pages or len(items) >= 50:
            return items
        body = app.call("GET", _batch_path(batch_id), query={"limit": PAGE_LIMIT, "cursor": cursor}).body


def _bulk_options(function: Callable) -> Callable:
    for option in reversed([
        click.option("--dry-run", is_flag=True, help="Show the plan (every pre-check, costs) and change nothing."),
        click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (and skip the dry run)."),
        click.option("--watch/--no-watch", default=True, show_default=True,
                     help="Follow the batch with a progress bar until it completes."),
    ]):
        function = option(function)
    return function


@cli.command(epilog=EXIT_CODES_HELP, short_help="Apply a batch-results CSV (plan, confirm, watch).")
@click.argument("csv_file", metavar="RESULTS.CSV", type=click.File("rb"))
@click.option("--reason", metavar="TEXT", help="Internal note kept in the audit of every row; never sent to MTurk.")
@_bulk_options
@pass_app
def apply(app: App, csv_file, reason, dry_run, yes, watch) -> None:
    """Apply the decisions of an MTurk batch-results CSV (POST /batches, text/csv).

    The CSV is the one downloaded from the requester website (Manage > Review results > Download CSV), with
    an "x" in the Approve column or feedback in the Reject column. Without --yes, a dry run shows the plan
    (counts, refused items, cost against the balance) and asks before anything is changed. A file over 5 MB
    (up to 256 MB, 100,000 decisions) is uploaded to S3 instead, with a progress bar (POST /batches/uploads),
    and planned by the service before the same confirmation.
    """
    name = getattr(csv_file, "name", "-")
    if name in ("-", "<stdin>") and not (yes or dry_run):
        raise click.UsageError("Reading the CSV from stdin needs --yes or --dry-run (the confirmation reads stdin).")
    data = csv_file.read(UPLOAD_THRESHOLD_BYTES + 1)
    if not data.strip():
        raise click.BadParameter("the file is empty.", param_hint="RESULTS.CSV")
    if len(data) > UPLOAD_THRESHOLD_BYTES:  # over 5 MB: the CSV goes to S3, then the same plan, apply and watch
        _bulk(app, upload_sender(app, *whole_file(csv_file, data), reason), os.path.basename(name), dry_run, yes, watch)
        return

    def send(dry: bool) -> ApiResponse:
        query = {"reason": reason, "dryRun": "true" if dry else None}
        return app.client.request("POST", "/batches", data=data, content_type="text/csv", query=query, retry=dry)

    _bulk(app, send, os.path.basename(name), dry_run, yes, watch)


@cli.command("reverse-hit", epilog=EXIT_CODES_HELP, short_help="Reverse the rejections of a HIT.")
@click.argument("hit_id", metavar="HIT_ID")
@click.option("--worker", "workers", multiple=True, metavar="WORKER_ID",
              help="Only this worker's rejections (repeat for several). Default: every rejection of the HIT.")
@click.option("--feedback", metavar="TEXT", help="What the workers see (at most 1024 characters).")
@click.option("--reason", metavar="TEXT", help="Internal note kept in the audit; never sent to MTurk.")
@_notify_options
@_bulk_options
@pass_app
def reverse_hit(app: App, hit_id, workers, feedback, reason, notify_subject, notify_message, dry_run, yes,
                watch) -> None:
    """Reverse the rejections of a HIT, all or some workers' (POST /hits/HIT_ID/reversals).

    Without --yes, a dry run shows the plan (what is reversible, what is refused and why, the cost against
    the balance) and asks before anything is changed. With --notify-subject and --notify-message, each worker
    whose reversal succeeded is e-mailed (100 workers per MTurk call).
    """
    notice = _notify_worker(notify_subject, notify_message)
    body: dict[str, Any] = {k: v for k, v in (("feedback", feedback), ("reason", reason), ("notifyWorker", notice))
                            if v is not None}
    if workers:
        body["workerIds"] = list(dict.fromkeys(workers))

    def send(dry: bool) -> ApiResponse:
        return app.client.request("POST", f"/hits/{quote_segment(hit_id)}/reversals", json=body,
                                  query={"dryRun": "true"} if dry else None, retry=dry)

    _bulk(app, send, f"HIT {hit_id}", dry_run, yes, watch)


@cli.command("batch", epilog=EXIT_CODES_HELP, short_help="A batch's progress, counts and items.")
@click.argument("batch_id", metavar="BATCH_ID")
@click.option("--watch", is_flag=True, help="Follow it with a progress bar until it completes.")
@click.option("--items", "show_items", is_flag=True, help="List its items (every page).")
@click.option("--status", type=click.Choice(_ITEM_STATUSES, case_sensitive=False), help="Only items in this status.")
@click.option("--limit", type=click.IntRange(1, 100), default=PAGE_LIMIT, show_default=True, help="Items per page.")
@pass_app
def batch(app: App, batch_id, watch, show_items, status, limit) -> None:
    """A batch's status, counts and progress; its items with --items (GET /batches/BATCH_ID)."""
    if watch:
        first = app.call("GET", _batch_path(batch_id), query={"limit": 1}).body
        if not app.json_mode:
            app.renderer.line(f"Watching batch {batch_id}...")
        final = _watch(app, batch_id, _int(first.get("total")))
        if not show_items:
            _finish(app, final)
            return
    query = {"limit": limit, "status": status.upper() if status else None}
    body = app.call("GET", _batch_path(batch_id), query=query).body
    if show_items:
        items = [i for i in body.get("items") or [] if isinstance(i, dict)]
        cursor = body.get("nextCursor")
        while cursor:
            page = app.call("GET", _batch_path(batch_id), query={**query, "cursor": cursor}).body
            items += [i for i in page.get("items") or [] if isinstance(i, dict)]
            cursor = page.get("nextCursor")
        body = {**body, "items": items, "nextCursor": None}
    if app.json_mode:
        app.renderer.json(body)
    else:
        app.renderer.batch_status(body)
        if show_items:
            title = f"Items{' (' + status.upper() + ')' if status else ''}: {len(body['items'])}"
            app.renderer.human.print(app.renderer.batch_items_table(body["items"], title))
    if watch:
        counts = body.get("counts") or {}
        if _int(counts.get("failed")) or _int(counts.get("refused")) or _int(counts.get("deadLettered")):
            raise BatchFailures(f"Batch {batch_id} finished with {_int(counts.get('failed'))} failed, "
                                f"{_int(counts.get('refused'))} refused and {_int(counts.get('deadLettered'))} "
                                "dead-lettered item(s).")


# Swagger UI on this machine, "Try it out" signed by a local proxy (mturk_decisions_cli/docs_server.py).
from mturk_decisions_cli.docs_server import docs  # noqa: E402

cli.add_command(docs)

# The requester console in the browser, signed on this machine (mturk_decisions_cli/console/).
from mturk_decisions_cli.console.command import console  # noqa: E402

cli.add_command(console)


def main() -> None:
    cli(prog_name="mturk-decisions")


if __name__ == "__main__":
    main()
