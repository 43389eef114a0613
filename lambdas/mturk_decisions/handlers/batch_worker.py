"""SQS worker for bulk decisions: each message is one chunk of a batch (Powertools batch processing,
partial batch failures; SQS redelivers failed chunks and moves them to the DLQ after its retries)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, snapstart, wiring
from mturk_decisions.adapters.work_queue import Chunk
from mturk_decisions.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)
snapstart.register("batch_worker")  # SnapStart: the before-snapshot hook makes the parts and reads the models


def process_chunk(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """One chunk; Powertools passes the invocation's context, whose remaining time bounds the work."""
    chunk = Chunk.from_json(record.body)
    deps = wiring.current()
    receives = int(record.attributes.approximate_receive_count or 1)
    seconds_left = _seconds_left(lambda_context)
    outcomes = deps.batch_service().process(chunk, redelivered=receives > 1,
                                            final_attempt=receives >= deps.settings.work_queue_max_receives,
                                            seconds_left=seconds_left)
    logger.info("chunk processed", extra={"batch_id": chunk.batch_id, "hit_id": chunk.hit_id,
                                          "items": len(chunk.lines), "outcomes": dict(outcomes),
                                          "receives": receives})


def _seconds_left(context: LambdaContext | None) -> Callable[[], float]:
    if context is None:
        return lambda: float("inf")
    return lambda: context.get_remaining_time_in_millis() / 1000


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    collector.resume(freeze=False)  # a first invocation may be long work: collected as usual (see collector.py)
    return process_partial_response(event=event, record_handler=process_chunk, processor=processor, context=context)
