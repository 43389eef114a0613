"""MTurk notifications (AssignmentRejected / AssignmentApproved) from the requester's SQS queue."""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, snapstart, wiring
from mturk_decisions.domain.errors import InvalidRequest
from mturk_decisions.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)
snapstart.register("notifications")  # SnapStart: the before-snapshot hook makes the parts and reads the models


def process_notification(record: SQSRecord) -> None:
    deps = wiring.current()
    report = deps.notifications_dead_letters().handle(
        record.body, "mturk-notification", deps.notification_ingest().ingest, malformed=(InvalidRequest,)
    )
    if report is None:
        return
    logger.info("mturk notification", extra={"recorded": report.recorded, "duplicates": report.duplicates,
                                              "own_decisions": report.own_decisions, "provisional": report.provisional})


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
@collector.resumes_after_first_invocation
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=process_notification, processor=processor,
                                    context=context)
