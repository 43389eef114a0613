"""The run's figures as Markdown: calls recorded and allowed per function, the KMS requests they imply,
and every granted permission no scenario exercised, with its reason or finding."""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tests.least_privilege.expected import EXPECTED_UNEXERCISED, FINDINGS

PREFIX = "mturk-decisions-"


def _short(function: str) -> str:
    return function.removeprefix(PREFIX)


def _pairs(grants: dict[tuple[str, str], set[str]], everyone: int) -> str:
    """`action` on `resource` (functions), grouped by the functions that hold them."""
    by_functions: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for (action, label), functions in sorted(grants.items()):
        by_functions[tuple(sorted(functions))].append(f"`{action}` on `{label}`")
    parts = []
    for functions, pairs in by_functions.items():
        who = "every function" if len(functions) == everyone else ", ".join(_short(f) for f in functions)
        parts.append(f"{who}: {', '.join(pairs)}")
    return "; ".join(parts)


def markdown(run: Any) -> str:
    reports = dict(sorted(run.reports.items()))
    reasons = {entry.key: entry.reason for entry in EXPECTED_UNEXERCISED}
    finding_of = {entry.key: finding for finding in FINDINGS for entry in finding.entries}
    lines = [
        "### Least privilege, proven by execution", "",
        f"The scenarios ({len(run.log.steps)} steps: every API route, the worker through its queue, the events "
        "consumer through the bus, a website rejection through MTurk's notification, the sweeper and the "
        "reconciler on state left by crashed writers) ran every function in its own execution environments, "
        "configured as the synthesized template configures it; each AWS call was recorded and authorized "
        f"against that function's own role ({run.seconds:.0f} s in all).", "",
        "| Function | AWS calls | IAM requests | allowed | of which KMS, for the caller | grants | exercised "
        "| not exercised: explained | findings |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, report in reports.items():
        unexercised = report.unexercised
        explained = sum(1 for g in unexercised if g.key in reasons)
        found = sum(1 for g in unexercised if g.key in finding_of)
        other = len(unexercised) - explained - found
        allowed = sum(1 for d in report.decisions if d.allowed)
        lines.append(
            f"| {_short(name)} | {len(report.calls)} | {len(report.decisions)} | {allowed} "
            f"| {len(report.kms_decisions)} | {len(report.grants) - len(report.inert_grants)} "
            f"| {len(report.exercised)} | {explained}{f' (+{other} unexplained)' if other else ''} | {found} |")
    lines += [
        "",
        "IAM requests: one per item of a TransactWriteItems and per PutEvents entry, and the `kms:Decrypt` "
        "DynamoDB and Secrets Manager make for the caller under the customer-managed keys (`kms:ViaService`). "
        "Grants: (action × resource) pairs of the role's Allow statements, without the inert ones (an item "
        f"action on an index ARN: {sum(len(r.inert_grants) for r in reports.values())} in all).", "",
        "Calls by operation:", "",
    ]
    for name, report in reports.items():
        operations = Counter(f"{c['service']}:{c['operation']}" for c in report.calls)
        lines.append(f"- {_short(name)}: " + ", ".join(f"{op} ×{n}" for op, n in sorted(operations.items())))
    denied = [(name, d) for name, report in reports.items() for d in report.denied]
    if denied:
        lines += ["", "Denied requests:", ""]
        lines += [f"- {_short(name)}: `{d.request.action}` on `{run.model.label(d.request.resource)}`"
                  f"{f' (via {d.request.via})' if d.request.via else ''}: {d.why}" for name, d in denied]
    unevaluable = sorted({u for report in reports.values() for u in report.unevaluable_conditions})
    if unevaluable:
        lines += ["", "Conditions the model could not evaluate (treated conservatively):", ""]
        lines += [f"- `{u}`" for u in unevaluable]

    explained: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    found: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    unexplained: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, report in reports.items():
        for grant in report.unexercised:
            target = (grant.action, grant.label)
            if grant.key in reasons:
                explained[reasons[grant.key]][target].add(name)
            elif grant.key in finding_of:
                found[finding_of[grant.key].id][target].add(name)
            else:
                unexplained[target].add(name)
    everyone = len(reports)
    lines += ["", "Granted but not exercised, and why:", ""]
    lines += [f"- {reason}. ({_pairs(grants, everyone)})" for reason, grants in explained.items()]
    if found:
        lines += ["", "Findings (excess grants, for `infra/`; each an xfail until fixed):", ""]
        texts = {finding.id: finding.text for finding in FINDINGS}
        lines += [f"- **{finding_id}**: {texts[finding_id]}. ({_pairs(grants, everyone)})"
                  for finding_id, grants in found.items()]
    if unexplained:
        lines += ["", f"**Unexplained**: {_pairs(unexplained, everyone)}"]
    lines += ["", "<details><summary>Scenario steps</summary>", ""] + [f"1. {step}" for step in run.log.steps]
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
