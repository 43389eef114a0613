"""Least privilege, proven by execution (issue 10).

The scenarios (`scenarios.py`) drive every function through its real entry on an offline stack whose
functions run in process environments configured as the synthesized template configures them, each AWS
call recorded (`local.lambda_env.record_aws_calls`). Then, per function:

- every recorded call is allowed by that function's own role (its template policies, IAM semantics, and
  the explicit Denies of the resources' policies), the KMS requests made for it under a customer-managed
  key included (`policy.py`);
- every granted (action × resource) no scenario exercised is either explained (`EXPECTED_UNEXERCISED`) or
  a finding (`FINDINGS`), and no entry of either list is stale.

Each finding is also a strict xfail below: fixing it in `infra/` makes that test pass unexpectedly (a
failure), which says to remove its entry.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.least_privilege.expected import ALL, EXPECTED_UNEXERCISED, FINDING_ENTRIES, FINDINGS

MISSING = {entry.key for finding in FINDINGS if finding.kind == "missing" for entry in finding.entries}


def _show(decisions, model) -> str:
    return "\n".join(f"  {d.request.action} on {model.label(d.request.resource)}"
                     f"{f' (via {d.request.via})' if d.request.via else ''}: {d.why}" for d in decisions)


def test_the_template_has_exactly_the_functions_the_scenarios_drive_and_each_made_calls(least_privilege):
    # Given the synthesized template and the run
    reports = least_privilege.reports
    # Then its functions are the service's six, each of which made AWS calls in the scenarios
    assert set(reports) == set(ALL), sorted(reports)
    calls = {name: len(report.calls) for name, report in reports.items()}
    assert all(calls.values()), calls
    # And no role carries a policy the model cannot read (an AWS-managed policy ARN)
    assert not [(n, r.unevaluated_policies) for n, r in reports.items() if r.unevaluated_policies]


@pytest.mark.parametrize("function", ALL)
def test_every_recorded_call_is_allowed_by_the_functions_own_role(least_privilege, function):
    # Given every AWS call the function made in the scenarios, as IAM requests
    report, model = least_privilege.reports[function], least_privilege.model
    # Then each is allowed by its own role's policies (no explicit Deny, an Allow that covers it)
    denied = [d for d in report.denied
              if (function, d.request.action, model.label(d.request.resource)) not in MISSING]
    assert not denied, f"{function}: {len(denied)} denied request(s):\n{_show(denied, model)}"
    # And every condition met on the way could be evaluated (none was decided conservatively)
    assert not report.unevaluable_conditions, sorted(report.unevaluable_conditions)


@pytest.mark.parametrize("function", ALL)
def test_under_the_customer_managed_keys_the_function_holds_the_key_grants(least_privilege, function):
    # Given the KMS requests DynamoDB, Secrets Manager and S3 make for the function under a customer-managed
    # key (the template encrypts the tables and the upload bucket with the data key, the secret with its own)
    report, model = least_privilege.reports[function], least_privilege.model
    kms = report.kms_decisions
    keys = Counter((model.label(d.request.resource), d.request.via.split(" ")[0].split(":")[0]) for d in kms)
    # Then there are some, through DynamoDB and through Secrets Manager (and S3 for the upload path) ...
    vias = {via for _, via in keys}
    assert {"dynamodb", "secretsmanager"} <= vias <= {"dynamodb", "secretsmanager", "s3"}, keys
    # ... and each is allowed by the role (kms:ViaService) and by the key's policy
    refused = [d for d in kms if not d.allowed]
    assert not refused, _show(refused, model)
    assert not report.key_policy_refusals


@pytest.mark.parametrize("function", ALL)
def test_every_granted_permission_is_exercised_or_explained(least_privilege, function):
    # Given the (action × resource) pairs of the role's Allow statements that no allowed request used
    report = least_privilege.reports[function]
    unexercised = {grant.key for grant in report.unexercised}
    explained = {e.key for e in EXPECTED_UNEXERCISED if e.function == function}
    found = {e.key for e in FINDING_ENTRIES if e.function == function and e.key not in MISSING}
    # Then each has a reason, or is a known finding ...
    unexplained = sorted(unexercised - explained - found)
    assert not unexplained, (f"granted to {function} but never exercised, with no reason: "
                             f"{[(a, r) for _, a, r in unexplained]} (exercise it in a scenario, give the reason "
                             "in expected.py, or report an excess grant)")
    # ... and no entry is stale (its grant exercised now, or no longer granted)
    stale = sorted((explained | found) - unexercised)
    assert not stale, f"stale entries for {function} in expected.py: {[(a, r) for _, a, r in stale]}"


@pytest.mark.parametrize("finding", [pytest.param(f, id=f.id, marks=pytest.mark.xfail(
    strict=True, raises=AssertionError, reason=f"infra finding ({f.kind}): {f.text}")) for f in FINDINGS])
def test_finding_fixed(least_privilege, finding):
    # Given a finding about a role: grants no code path uses, or calls the role does not allow
    reports, model = least_privilege.reports, least_privilege.model
    if finding.kind == "excess":
        # Then once fixed, none of its grants is left unexercised (removed from the role)
        still = [e.key for e in finding.entries
                 if e.key in {g.key for g in reports[e.function].unexercised}]
        assert not still, still
    else:
        # Then once fixed, every one of its calls is allowed
        still = [e.key for e in finding.entries for d in reports[e.function].denied
                 if (e.function, d.request.action, model.label(d.request.resource)) == e.key]
        assert not still, still
