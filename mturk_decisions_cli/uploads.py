"""`apply` for a batch-results CSV too large for a request (over UPLOAD_THRESHOLD_BYTES): the upload path.

    POST /batches/uploads            a batch AWAITING_UPLOAD and a presigned S3 URL
    PUT  <url>                       the CSV itself, straight to S3, with a progress bar
    GET  /batches/{id}/plan          until the service has parsed and planned it (PLANNED) or refused it (INVALID)
    POST /batches/{id}/apply         after the plan is shown and confirmed; then the batch is watched as usual

`upload_sender` gives `commands.batches.submit` the same `send(dry_run)` the direct POST /batches path gives it, so the plan,
the confirmation, the watching and the exit codes are the same whichever path a file takes.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import requests
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from mturk_decisions_cli.client import ApiResponse, quote_segment
from mturk_decisions_cli.errors import Aborted, ApiError, CliError, ExitCode, TransportError
from mturk_decisions_cli.models import Json, mapping, objects

if TYPE_CHECKING:
    from mturk_decisions_cli.app import App

#: Files larger than this go to S3 (POST /batches takes 6 MB through API Gateway's Lambda proxy).
UPLOAD_THRESHOLD_BYTES = 5 * 1024 * 1024
#: What the service accepts (it answers its own `maxBytes`; a larger file is refused before the PUT).
UPLOAD_MAX_BYTES = 256 * 1024 * 1024
_WAITING = ("AWAITING_UPLOAD", "PARSING")
POLL_SECONDS, POLL_MAX_SECONDS = 1.0, 5.0
#: Items of the plan shown by outcome (the rest is in the totals).
SHOWN_ITEMS = 100
CHUNK_BYTES = 1024 * 1024


class _Reading:
    """A file object for `requests` that reports each read to the progress bar (and has a length, so the PUT
    carries Content-Length: a presigned S3 PUT takes no chunked body)."""

    def __init__(self, file: BinaryIO, size: int, advance: Callable[[int], None]) -> None:
        self._file, self._size, self._advance = file, size, advance

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        data = self._file.read(CHUNK_BYTES if amount is None or amount < 0 else amount)
        self._advance(len(data))
        return data


def whole_file(file: BinaryIO, head: bytes) -> tuple[BinaryIO, int]:
    """The file to PUT and its size, once `head` (its first bytes) was read: a regular file itself, anything
    else (stdin, a pipe) copied to a temporary file first. Over UPLOAD_MAX_BYTES: a usage error."""
    import os
    import shutil
    import tempfile

    import click

    try:
        size = os.fstat(file.fileno()).st_size if file.seekable() else None
    except (AttributeError, OSError, ValueError):
        size = None
    if size is None:
        # Not a `with`: the copy is what the caller PUTs (an unnamed file, gone once closed or collected).
        copy = tempfile.TemporaryFile()  # noqa: SIM115
        copy.write(head)
        shutil.copyfileobj(file, copy, CHUNK_BYTES)
        file, size = copy, copy.tell()
    if size > UPLOAD_MAX_BYTES:
        raise click.BadParameter(f"the file is {size / 1_048_576:.0f} MB; an upload holds at most "
                                 f"{UPLOAD_MAX_BYTES // 1_048_576} MB: split it into parts.", param_hint="RESULTS.CSV")
    file.seek(0)
    return file, size


def upload_sender(app: App, file: BinaryIO, size: int, reason: str | None) -> Callable[[bool], ApiResponse]:
    """`send(dry_run)`: with True, upload the CSV and answer its plan once it is PLANNED; with False, apply it
    (uploading and waiting for the plan first when no dry run came before: `--yes`)."""
    batch_id, plan = "", None

    def planned() -> dict[str, Any]:
        nonlocal batch_id, plan
        if plan is None:
            batch_id = _upload(app, file, size, reason)
            plan = _plan_when_ready(app, batch_id)
        return plan

    def send(dry_run: bool) -> ApiResponse:
        answer = planned()
        if dry_run:
            return ApiResponse(200, answer)
        path = f"/batches/{quote_segment(batch_id)}/apply"
        return app.client.request("POST", path, headers={"Idempotency-Key": str(uuid.uuid4())})

    return send


def _upload(app: App, file: BinaryIO, size: int, reason: str | None) -> str:
    body = {k: v for k, v in (("reason", reason), ("contentLength", size)) if v is not None}
    created = app.call("POST", "/batches/uploads", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}).body
    target = created.get("upload") or {}
    batch_id = str(created.get("batchId") or "")
    app.renderer.note(f"Uploading {size / 1_048_576:.1f} MB to S3 (batch {batch_id}) ...")
    columns = [TextColumn("upload"), BarColumn(), DownloadColumn(binary_units=True), TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=app.renderer.err, transient=False) as progress:
        task = progress.add_task("upload", total=size)
        for attempt in range(1 + max(0, app.retries)):
            file.seek(0)
            progress.update(task, completed=0)
            try:
                answer = requests.put(target["url"], headers={**(target.get("headers") or {}),
                                                              "Content-Length": str(size)},
                                      data=_Reading(file, size, lambda n: progress.advance(task, n)),
                                      timeout=max(app.timeout, 60))
                break
            except requests.exceptions.RequestException as error:
                if attempt >= app.retries:
                    raise TransportError(f"The upload to S3 failed: {str(error)[:300]}", hint=(
                        f"Nothing was applied. Run the same command again (batch {batch_id} stays AWAITING_UPLOAD "
                        "and expires unused).")) from None
                app.sleep(1.0 + attempt)
    if not 200 <= answer.status_code < 300:
        raise CliError(f"S3 refused the upload (HTTP {answer.status_code}): {_s3_error(answer.text)}",
                       exit_code=ExitCode.REFUSED if answer.status_code < 500 else ExitCode.UNAVAILABLE,
                       hint="Nothing was applied. The upload URL is valid 15 minutes: run the command again.")
    return batch_id


def _plan_when_ready(app: App, batch_id: str) -> dict[str, Any]:
    """Poll the plan until the batch is PLANNED (its refused and skipped items fetched) or INVALID (raised)."""
    path, interval = f"/batches/{quote_segment(batch_id)}/plan", POLL_SECONDS
    try:
        with app.renderer.err.status("The service is parsing and planning the CSV ..."):
            while True:
                body: dict[str, Any] = app.call("GET", path, query={"limit": SHOWN_ITEMS}).body
                if str(body.get("status")) not in _WAITING:
                    break
                app.sleep(interval)
                interval = min(POLL_MAX_SECONDS, interval * 1.5)
    except KeyboardInterrupt:
        raise Aborted(f"Stopped waiting; nothing was applied. Batch {batch_id} is being planned: see it with "
                      f"GET /batches/{batch_id}/plan.") from None
    if body.get("status") == "INVALID":
        raise ApiError(400, {"code": "INVALID_BATCH", **{k: v for k, v in body.items() if k != "status"}},
                       hint="Nothing was stored or queued. Fix the rows listed and run the command again.")
    if app.json_mode:
        return body
    shown: list[Json] = []
    for outcome in ("refused", "skip"):
        page = app.call("GET", path, query={"limit": SHOWN_ITEMS, "outcome": outcome}).body
        shown += objects(mapping(page.get("plan")).get("items"))
    return {**body, "plan": {**(body.get("plan") or {}), "items": sorted(shown, key=lambda i: i.get("line", 0))}}


def _s3_error(text: str) -> str:
    """S3's XML error, as `Code: Message`."""
    import re

    code = re.search(r"<Code>([^<]*)</Code>", text or "")
    message = re.search(r"<Message>([^<]*)</Message>", text or "")
    found = ": ".join(m.group(1) for m in (code, message) if m)
    return found or (text or "")[:200]
