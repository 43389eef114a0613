"""Small HTML helpers: every value shown is escaped here, and every page shares one layout."""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

NAV = (("/", "Overview"), ("/assignment", "Assignment"), ("/rejections", "Rejections"),
       ("/reversals", "Automatic reversals"), ("/batches", "Batches"), ("/audit", "Audit"))


def e(value: Any) -> str:
    """Escaped text; None shows as an em dash."""
    return "—" if value is None or value == "" else html.escape(str(value), quote=True)


def link(path: str, text: str, **query: Any) -> str:
    pairs = {k: v for k, v in query.items() if v not in (None, "")}
    href = path + ("?" + urlencode(pairs) if pairs else "")
    return f'<a href="{e(href)}">{e(text)}</a>'


def layout(title: str, body: str, *, current: str = "", api_url: str = "") -> str:
    here = ' aria-current="page"'
    nav = "".join(f'<a href="{path}"{here if path == current else ""}>{name}</a>' for path, name in NAV)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · mturk-decisions console</title>
<link rel="stylesheet" href="/static/console.css">
<script src="/static/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><span class="brand">mturk-decisions</span><nav aria-label="Pages">{nav}</nav>
<span class="api" title="Calls are signed on this machine with your AWS credentials">API: {e(api_url)}</span></header>
<main id="main" tabindex="-1">
<h1>{e(title)}</h1>
{body}
</main>
</body>
</html>"""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str = "", empty: str = "Nothing here.",
          css: str = "") -> str:
    """A table whose cells are already HTML (escape values with `e`)."""
    rows = list(rows)
    if not rows:
        return f'<p class="empty">{e(empty)}</p>'
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return f'<div class="scroll"><table class="{css}">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def api_error(error: Any) -> str:
    """An API error as its code and message (never a stack trace); details the requester can act on."""
    kind = type(error).__name__
    code = getattr(error, "code", None) or {"TransportError": "NETWORK", "ConfigError": "CONFIGURATION"}.get(kind, "ERROR")
    message = getattr(error, "message", None) or str(error)
    status = getattr(error, "status", None)
    hint = getattr(error, "hint", None)
    parts = [f'<div class="error" role="alert"><p><strong class="code">{e(code)}</strong>'
             + (f" (HTTP {e(status)})" if status else "") + f": {e(message)}</p>"]
    if hint:
        parts.append(f"<p>{e(hint)}</p>")
    parts.append("</div>")
    return "".join(parts)


def notice(text: str, kind: str = "ok") -> str:
    return f'<div class="notice {kind}" role="status"><p>{text}</p></div>'


def hidden(**fields: Any) -> str:
    return "".join(f'<input type="hidden" name="{e(k)}" value="{html.escape(str(v), quote=True)}">'
                   for k, v in fields.items() if v is not None)


def dl(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list whose values are already HTML."""
    return '<dl class="facts">' + "".join(f"<dt>{e(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def when(iso: str | None) -> str:
    """An ISO time as `<time>` (UTC, to the second)."""
    if not iso:
        return "—"
    shown = iso.replace("T", " ")[:19] + "Z"
    return f'<time datetime="{e(iso)}">{e(shown)}</time>'


def countdown(deadline: str | None) -> str:
    """A deadline that console.js counts down every second (server-rendered text without JavaScript)."""
    if not deadline:
        return "—"
    return f'<span class="countdown" data-deadline="{e(deadline)}">{when(deadline)}</span>'


def actor(value: str | None) -> str:
    """An IAM principal by its last name part (`user/demo-requester` → demo-requester), the whole ARN as title."""
    if not value:
        return "—"
    return f'<span title="{e(value)}">{e(value.rsplit("/", 1)[-1] if value.startswith("arn:") else value)}</span>'
