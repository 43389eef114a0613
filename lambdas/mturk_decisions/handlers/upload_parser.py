"""SQS consumer of the upload bucket's notifications: each message is an S3 event (ObjectCreated under
`uploads/`), whose batch is parsed and planned (service/uploads.py). S3's test message, sent when the
notification is configured, is acknowledged. A failure is retried by SQS (the parser that takes over starts
again: its writes are idempotent); on the last delivery the batch becomes INVALID, saying why, and the
message goes to the DLQ."""
from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mturk_decisions import collector, snapstart, wiring
from mturk_decisions.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)
snapstart.register("upload_parser")  # SnapStart: the before-snapshot hook makes the parts and reads the models


def process_notification(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if body.get("Event") == "s3:TestEvent":
        return
    deps = wiring.current()
    uploads = deps.upload_service()
    receives = int(record.attributes.approximate_receive_count or 1)
    for entry in body.get("Records") or []:
        if not str(entry.get("eventName", "")).startswith("ObjectCreated"):
            continue
        bucket, found = entry["s3"]["bucket"]["name"], entry["s3"]["object"]
        try:
            outcome = uploads.receive(bucket, found["key"], int(found.get("size") or 0))
        except Exception as error:
            if receives >= deps.settings.upload_queue_max_receives:
                uploads.give_up(found["key"], error)
            raise
        logger.info("upload received", extra={"key": found["key"], "size": found.get("size"), "outcome": outcome,
                                               "receives": receives})


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    collector.resume(freeze=False)  # a first invocation may be long work: collected as usual (see collector.py)
    return process_partial_response(event=event, record_handler=process_notification, processor=processor,
                                    context=context)
