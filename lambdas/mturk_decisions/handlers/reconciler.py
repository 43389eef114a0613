"""Every few minutes (EventBridge schedule): settle audit records left PENDING by a crash."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import wiring
from mturk_decisions.domain.errors import DecisionError
from mturk_decisions.observability import logger, metrics


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    deps = wiring.current()
    report = deps.reconciler().run()
    metrics.add_metric(name="ReconcilerFindings", unit=MetricUnit.Count, value=report.findings)
    requeued = _requeue_stranded_batches(deps)
    summary = {"examined": report.examined, "succeeded": len(report.succeeded), "failed": len(report.failed),
               "leftPending": len(report.left_pending), "errors": len(report.errors), "batchesRequeued": requeued}
    if report.findings:
        logger.warning("reconciler settled PENDING decisions", extra=summary)
    return summary


def _requeue_stranded_batches(deps: wiring.Dependencies) -> int:
    """Batches stored but never queued (SQS refused the send) are queued again; if that fails too, the
    `BatchesStranded` metric (alarmed) says so and the next run tries again."""
    if deps.batches is None:
        return 0
    try:
        requeued = deps.batches.requeue_stranded()
    except DecisionError as error:
        metrics.add_metric(name="BatchesStranded", unit=MetricUnit.Count, value=1)
        logger.error("stranded batch could not be queued", extra={"code": error.code,
                                                                   "batch_id": error.details.get("batchId")})
        return 0
    return len(requeued)
