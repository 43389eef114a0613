"""Decisions per day as an inline SVG bar chart, drawn here (no chart library, no script)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from mturk_decisions_cli.console.markup import e

SERIES = (("reject", "Rejections", "#b3261e"), ("reverse", "Reversals", "#1b6e3a"), ("approve", "Approvals", "#1f5fa8"))
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 900, 240, 40, 28, 12


def per_day(decisions: Iterable[Mapping[str, Any]], first: date, days: int) -> dict[date, Counter[str]]:
    """Counts of SUCCEEDED decisions by day (UTC) and action, for `days` days from `first`."""
    counts: dict[date, Counter[str]] = {first + timedelta(days=i): Counter() for i in range(days)}
    for decision in decisions:
        created = str(decision.get("createdAt") or "")[:10]
        try:
            day = date.fromisoformat(created)
        except ValueError:
            continue
        if day in counts and decision.get("state") == "SUCCEEDED":
            counts[day][str(decision.get("action"))] += 1
    return counts


def bar_chart(counts: Mapping[date, Counter[str]]) -> str:
    """Grouped bars, one group a day; each bar's <title> says its day, count and series (hover, screen readers)."""
    days = sorted(counts)
    top = max([1, *(counts[d][key] for d in days for key, _, _ in SERIES)])
    group = (WIDTH - LEFT) / max(1, len(days))
    bar = max(2.0, (group - 6) / len(SERIES))
    plot = HEIGHT - BOTTOM - TOP
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title">',
             '<title id="chart-title">Decisions per day: rejections, reversals and approvals</title>',
             f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH}" y2="{HEIGHT - BOTTOM}" stroke="#888"/>',
             f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end" font-size="11">{top}</text>',
             f'<text x="{LEFT - 6}" y="{HEIGHT - BOTTOM}" text-anchor="end" font-size="11">0</text>']
    for i, day in enumerate(days):
        x0 = LEFT + i * group + 3
        for j, (key, name, colour) in enumerate(SERIES):
            value = counts[day][key]
            height = plot * value / top
            parts.append(f'<rect x="{x0 + j * bar:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{bar - 1:.1f}" '
                         f'height="{height:.1f}" fill="{colour}"><title>{e(day)}: {value} {e(name.lower())}</title>'
                         '</rect>')
        parts.append(f'<text x="{x0 + group / 2 - 3:.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11">'
                     f'{day:%m-%d}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span class="key"><span class="swatch" style="background:{colour}"></span>{name}</span>'
                     for _, name, colour in SERIES)
    return "".join(parts) + f'<p class="legend">{legend}</p>'
