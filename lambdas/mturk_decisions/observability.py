"""The one module of shared observability objects: logger and metrics (no X-Ray SDK: Lambda's
active tracing covers the function, and the SDK's import cost is paid on every cold start)."""
from __future__ import annotations

import logging
import re

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

    def decided(self, request: DecisionRequest, outcome: str, record: DecisionRecord | None = None) -> None:
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


def event_publish_failed(detail_type: str, error: Exception) -> None:
    metrics.add_metric(name="EventPublishFailed", unit=MetricUnit.Count, value=1)
    logger.error("event not published", extra={"detail_type": detail_type, "error_type": type(error).__name__})


def reconcile_failed(record: DecisionRecord, error: Exception) -> None:
    """One record the reconciler could not settle this run (it tries again at the next)."""
    metrics.add_metric(name="ReconcilerErrors", unit=MetricUnit.Count, value=1)
    logger.error("reconciler could not settle a record", extra={
        "assignment_id": record.assignment_id, "decision_id": record.decision_id, "error_type": type(error).__name__})


def mturk_retried(operation: str, kind: str, attempt: int) -> None:
    if kind == "throttle":
        metrics.add_metric(name="MTurkThrottled", unit=MetricUnit.Count, value=1)
    logger.warning("mturk retry", extra={"operation": operation, "kind": kind, "attempt": attempt})


class SecretRedactor(logging.Filter):
    """Masks secret values in log records of the libraries that log wire traffic at DEBUG.

    botocore logs every response body at DEBUG, GetSecretValue's included: whoever turns DEBUG on
    to chase a bug must not find the MTurk keys in CloudWatch Logs.
    """

    #: From a SecretString/SecretBinary key to the end of the record: escaping varies (bytes reprs, nested JSON).
    _SECRET_FIELDS = re.compile(r'(Secret(?:String|Binary)\\*"?\s*[:=]\s*).*', re.DOTALL)
    LOGGERS = ("botocore", "botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.auth",
               "botocore.retryhandler", "urllib3", "urllib3.connectionpool", "boto3")

    def __init__(self) -> None:
        super().__init__()
        self._values: set[str] = set()

    def remember(self, *values: str) -> None:
        self._values.update(v for v in values if v and len(v) >= 4)

    def redact(self, text: str) -> str:
        text = self._SECRET_FIELDS.sub(r"\1*** (redacted)", text)
        for value in self._values:
            text = text.replace(value, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True

    def install(self) -> SecretRedactor:
        names = set(self.LOGGERS) | {
            name for name in logging.Logger.manager.loggerDict if name.startswith(("botocore", "urllib3", "boto3"))
        }
        for name in names:
            target = logging.getLogger(name)
            if self not in target.filters:
                target.addFilter(self)
        for handler in logger.handlers:
            if self not in handler.filters:
                handler.addFilter(self)
        return self


secret_redactor = SecretRedactor()
