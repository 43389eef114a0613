"""Every minute (EventBridge schedule): run the automatic reversals that are due; count the ones whose
30-day window closes within 48 hours for the deadline-guard alarm."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, wiring
from mturk_decisions.observability import logger, metrics


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@collector.resumes_after_first_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = wiring.current().reversal_scheduler().sweep()
    metrics.add_metric(name="ReversalsNearDeadline", unit=MetricUnit.Count, value=report.near_deadline)
    metrics.add_metric(name="ScheduledReversalsFailed", unit=MetricUnit.Count, value=len(report.failed))
    metrics.add_metric(name="ScheduledReversalsDone", unit=MetricUnit.Count, value=len(report.reversed))
    summary = {"reversed": len(report.reversed), "rescheduled": len(report.rescheduled),
               "failed": len(report.failed), "nearDeadline": report.near_deadline}
    logger.info("sweep", extra=summary)
    return summary
