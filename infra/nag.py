"""cdk-nag (3.x) wiring and the single helper used to acknowledge a finding.

cdk-nag 3 is a CDK policy-validation plugin: an unacknowledged finding fails
`app.synth()` (and therefore `cdk synth` and the infra tests) with a report in
`cdk.out/validation-report.json`. An acknowledgment is recorded on one construct
and covers that construct's subtree only, so each call below is placed on the
narrowest construct that owns the finding, and names the exact finding
(`AwsSolutions-IAM5[Resource::*]`, not the whole rule) where cdk-nag reports one.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stage, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

PACK = "AwsSolutions"
_MIN_REASON = 40


def add_nag_checks(stage: Stage) -> None:
    """Run the AWS Solutions rule pack on every stack of the app at synth time."""
    Validations.of(stage).add_plugins(AwsSolutionsChecks(verbose=True))


def acknowledge(scope: IConstruct, rule: str, reason: str, *, finding: str | None = None) -> str:
    """Acknowledge `AwsSolutions-<rule>` (or one `[finding]` of it) on `scope`'s subtree.

    `reason` must say why the finding does not apply here; a short placeholder is
    rejected so that every acknowledgment carries a real justification.
    """
    if len(reason.strip()) < _MIN_REASON:
        raise ValueError(f"acknowledgment of {rule} needs a real reason, got {reason!r}")
    rule_id = f"{PACK}-{rule}" + (f"[{finding}]" if finding else "")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason.strip()))
    return rule_id
