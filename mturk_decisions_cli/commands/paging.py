"""Lists in pages (`history`, `pending`): --limit, --all, --cursor, and the pages merged into one answer."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mturk_decisions_cli.app import App
from mturk_decisions_cli.commands.options import F, apply_options
from mturk_decisions_cli.models import Json, objects


def paging_options(noun: str) -> Callable[[F], F]:
    """--limit, --all, --cursor: a list's pages."""
    def decorate(function: F) -> F:
        return apply_options([
            click.option("--limit", type=click.IntRange(1, 100), default=25, show_default=True,
                         help=f"{noun} per page."),
            click.option("--all", "all_pages", is_flag=True, help="Follow nextCursor to the last page."),
            click.option("--cursor", metavar="CURSOR", help="Start at this nextCursor of a previous page."),
        ], function)

    return decorate


def pages(app: App, path: str, key: str, query: dict[str, Any], cursor: str | None,
          all_pages: bool) -> tuple[dict[str, Any], list[Json], str | None]:
    """A list's first page (or every page with `all_pages`) merged: (the JSON document, its items, the next
    cursor). The document is the first page's answer with every item and the last page's cursor."""
    items: list[Json] = []
    first: dict[str, Any] = {}
    next_cursor = cursor
    while True:
        body = app.call("GET", path, query={**query, "cursor": next_cursor}).body
        body = dict(body) if isinstance(body, dict) else {}
        first = first or body
        items += objects(body.get(key))
        next_cursor = body.get("nextCursor")
        if not all_pages or not next_cursor:
            break
    return {**first, key: items, "nextCursor": next_cursor}, items, next_cursor
