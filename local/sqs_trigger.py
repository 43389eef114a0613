"""A local stand-in for Lambda's SQS event source mapping: poll, invoke the worker, delete what succeeded.

Failed messages (listed in `batchItemFailures`) are left on the queue and come back after a short
visibility timeout with a higher receive count; the queue's redrive policy moves them to the DLQ.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from local.gateway import _LambdaContext


class LocalSqsTrigger:
    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, handler: Callable[[dict, Any], dict],
                 batch_size: int = 10, retry_after_seconds: int = 1) -> None:
        self._sqs, self._url, self._arn = sqs, queue_url, queue_arn
        self._handler = handler
        self._batch_size = batch_size
        self._retry_after = retry_after_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.invocations = 0

    def start(self) -> "LocalSqsTrigger":
        self._thread = threading.Thread(target=self._run, name="local-sqs-trigger", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # noqa: BLE001 - keep polling like the managed trigger does
                self._stop.wait(0.5)

    def poll_once(self, wait_seconds: int = 0) -> int:
        answer = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=self._batch_size,
                                           WaitTimeSeconds=wait_seconds, AttributeNames=["All"])
        messages = answer.get("Messages") or []
        if not messages:
            return 0
        event = {"Records": [self._record(message) for message in messages]}
        self.invocations += 1
        try:
            result = self._handler(event, _LambdaContext("mturk-decisions-batch-worker")) or {}
            failed = {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - a crashed invocation fails the whole batch, as in Lambda
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"],
                                                    VisibilityTimeout=self._retry_after)
            else:
                self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _record(self, message: dict) -> dict:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": "us-east-1",
        }


