"""The one module of shared observability objects: logger and metrics (no X-Ray SDK: Lambda's
active tracing covers the function, and the SDK's import cost is paid on every cold start)."""
from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from mturk_decisions.domain.model import DecisionRecord, DecisionRequest
from mturk_decisions.service.decisions import DecisionObserver

SERVICE = "mturk-decisions"
NAMESPACE = "MTurkDecisions"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class MetricsObserver(DecisionObserver):
    """Decisions by action and outcome, plus the counters the operations alarms watch."""

    def decided(self, request: DecisionRequest, outcome: str) -> None:
        kind, _, code = outcome.partition(":")
        with single_metric(
            name="Decisions", unit=MetricUnit.Count, value=1, namespace=NAMESPACE,
            default_dimensions={"service": SERVICE},
        ) as metric:
            metric.add_dimension(name="action", value=request.action.value)
            metric.add_dimension(name="outcome", value=kind)
        if kind == "failed":
            metrics.add_metric(name="DecisionsFailed", unit=MetricUnit.Count, value=1)
        if code == "INSUFFICIENT_FUNDS":
            metrics.add_metric(name="InsufficientFunds", unit=MetricUnit.Count, value=1)
        logger.info(
            "decision",
            extra={"action": request.action.value, "assignment_id": request.assignment_id, "outcome": outcome,
                   "source": request.source.value},
        )

    def finalize_failed(self, record: DecisionRecord, error: Exception) -> None:
        metrics.add_metric(name="AuditFinalizeFailed", unit=MetricUnit.Count, value=1)
        logger.error(
            "audit finalize failed; record left PENDING for the reconciler",
            extra={"assignment_id": record.assignment_id, "decision_id": record.decision_id,
                   "error_type": type(error).__name__},
        )


def mturk_retried(operation: str, kind: str, attempt: int) -> None:
    if kind == "throttle":
        metrics.add_metric(name="MTurkThrottled", unit=MetricUnit.Count, value=1)
    logger.warning("mturk retry", extra={"operation": operation, "kind": kind, "attempt": attempt})
