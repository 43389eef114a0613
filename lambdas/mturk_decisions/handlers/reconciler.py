"""Every few minutes (EventBridge schedule): settle audit records left PENDING by a crash.

Runs never overlap, whatever Lambda does (a slow run past the next tick, a retried invocation): each run
first takes the reconciler's run lock in the audit table, held until its timeout has surely passed."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, wiring
from mturk_decisions.domain.errors import DecisionError
from mturk_decisions.observability import logger, metrics

RUN_LOCK = "reconciler"
RUN_LOCK_MARGIN = timedelta(seconds=30)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@collector.resumes_after_first_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = wiring.current()
    audit, now = deps.service.audit, deps.service.now()
    lock_until = now + timedelta(milliseconds=context.get_remaining_time_in_millis()) + RUN_LOCK_MARGIN
    if not audit.acquire_run_lock(RUN_LOCK, context.aws_request_id, lock_until, now):
        logger.info("another reconciler run holds the run lock; this one does nothing")
        return {"skipped": True}
    try:
        return _run(deps)
    finally:
        audit.release_run_lock(RUN_LOCK, context.aws_request_id)


def _run(deps: wiring.Dependencies) -> dict[str, Any]:
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
