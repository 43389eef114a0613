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

from dataclasses import replace

import click

from mturk_decisions_cli import __version__, config
from mturk_decisions_cli.app import App
from mturk_decisions_cli.commands import audit, batches, decisions, pending, watching
from mturk_decisions_cli.console.command import console
from mturk_decisions_cli.docs_server import docs
from mturk_decisions_cli.errors import EXIT_CODES_HELP, Aborted, ApiError, CliError, TransportError, hint_for
from mturk_decisions_cli.render import Renderer

__all__ = ["App", "cli", "main"]


class CliGroup(click.Group):
    """Turns CliError (API errors, configuration, network) into a clear message and its exit code."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CliError as error:
            app = ctx.obj if isinstance(ctx.obj, App) else App()
            if isinstance(error, Aborted):
                app.renderer.say(app.renderer.err, error.message)
                raise click.exceptions.Exit(int(error.exit_code)) from None
            app.renderer.error(error, _hint(error, app))
            raise click.exceptions.Exit(int(error.exit_code)) from None


def _hint(error: CliError, app: App) -> str | None:
    """The error's own hint, else what to do about it (a single decision's retry names its Idempotency-Key)."""
    if isinstance(error, ApiError) and not error.hint:
        return hint_for(error, idempotency_key=app.idempotency_key)
    if isinstance(error, TransportError) and app.idempotency_key:
        return (f"The decision may or may not have been applied. Re-run the same command with "
                f"--idempotency-key {app.idempotency_key}: it is safe and returns the outcome.")
    return error.hint


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
def cli(ctx: click.Context, api_url: str | None, region: str | None, profile: str | None, json_mode: bool,
        timeout: float, retries: int) -> None:
    """Reject MTurk assignments and reverse rejections, audited, through the mturk-decisions API.

    \b
    Examples:
      mturk-decisions reject 3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B --feedback "The labels do not match."
      mturk-decisions reverse 3YM12KYBHYJ0H7SAKGI4N4GYSZ6P2B --reason "QA rule 7 was wrong"
      mturk-decisions history --worker A1DEMOWORKERALICE --since 2026-11-01
      mturk-decisions apply Batch_123_batch_results.csv
    """
    given = ctx.obj if isinstance(ctx.obj, App) else App()  # tests hand in an App with a client_factory
    ctx.obj = replace(given, api_url=api_url, region=region, profile=profile, json_mode=json_mode, timeout=timeout,
                      retries=retries, renderer=Renderer(json_mode=json_mode))


for command in (*decisions.COMMANDS, *audit.COMMANDS, *pending.COMMANDS, *batches.COMMANDS, *watching.COMMANDS):
    cli.add_command(command)
# Swagger UI on this machine, "Try it out" signed by a local proxy (mturk_decisions_cli/docs_server.py).
cli.add_command(docs)
# The requester console in the browser, signed on this machine (mturk_decisions_cli/console/).
cli.add_command(console)


def main() -> None:
    cli(prog_name="mturk-decisions")


if __name__ == "__main__":
    main()
