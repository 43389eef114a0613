"""`Reversal Requested` events (EventBridge rule → SQS → this worker). Malformed events are moved to the
dead-letter queue with their reason and never retried; transient failures are retried by SQS."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, snapstart, wiring
from mturk_decisions.observability import logger, metrics
from mturk_decisions.service.reversal_requests import MalformedEvent

processor = BatchProcessor(event_type=EventType.SQS)
snapstart.register("events")  # SnapStart: the before-snapshot hook makes the parts and reads the models


def process_event(record: SQSRecord) -> None:
    deps = wiring.current()
    outcome = deps.events_dead_letters().handle(record.body, "reversal-requested", deps.reversal_requests().handle,
                                                malformed=(MalformedEvent,))
    if outcome is None:
        return
    logger.info("reversal requested", extra={"outcome": outcome.kind, "assignment_id": outcome.assignment_id,
                                             "batch_id": outcome.batch_id, "code": outcome.code})


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@collector.resumes_after_first_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=process_event, processor=processor, context=context)
