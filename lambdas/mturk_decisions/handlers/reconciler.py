"""Every few minutes (EventBridge schedule): settle audit records left PENDING by a crash."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import wiring
from mturk_decisions.observability import logger, metrics


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    report = wiring.current().reconciler().run()
    metrics.add_metric(name="ReconcilerFindings", unit=MetricUnit.Count, value=report.findings)
    summary = {"examined": report.examined, "succeeded": len(report.succeeded), "failed": len(report.failed),
               "leftPending": len(report.left_pending)}
    if report.findings:
        logger.warning("reconciler settled PENDING decisions", extra=summary)
    return summary
