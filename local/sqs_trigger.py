"""A local stand-in for Lambda's SQS event source mapping: poll, invoke the function, delete what succeeded.

Failed messages (listed in `batchItemFailures`) are left on the queue and come back after a short
visibility timeout with a higher receive count; the queue's redrive policy moves them to the DLQ.
A failed or crashed invocation fails the whole batch.

With `concurrency` > 1, that many pollers each long-poll, receive a batch and invoke, so up to `concurrency`
invocations run at once (the mapping's maximum concurrency). As in Lambda, a message sent while one invocation
runs is picked up by another poller at once: the mapping keeps several pollers on a queue (a poller waiting
on an idle queue costs moto nothing until a message arrives: local.moto_server).
"""
from __future__ import annotations

import threading
from typing import Any

from local.runtime import as_runtime


class LocalSqsTrigger:
    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, runtime_or_handler: Any, batch_size: int = 10,
                 concurrency: int = 1, retry_after_seconds: int = 1,
                 function_name: str = "mturk-decisions-batch-worker") -> None:
        self._sqs, self._url, self._arn = sqs, queue_url, queue_arn
        self.runtime = as_runtime(runtime_or_handler, function_name)
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._retry_after = retry_after_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count_lock = threading.Lock()
        self.invocations = 0

    def start(self) -> LocalSqsTrigger:
        for index in range(self._concurrency):
            thread = threading.Thread(target=self._run, name=f"local-sqs-trigger-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop polling; with `wait`, until the invocations under way have been settled."""
        self._stop.set()
        for thread in self._threads if wait else ():
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # keep polling like the managed trigger does
                self._stop.wait(0.5)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch, invoke the function with it, settle its messages; answers how many there were."""
        answer = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=self._batch_size,
                                           WaitTimeSeconds=wait_seconds, AttributeNames=["All"])
        messages = answer.get("Messages") or []
        if not messages:
            return 0
        event = {"Records": [self._record(message) for message in messages]}
        with self._count_lock:
            self.invocations += 1
        try:
            result = self.runtime.invoke(event) or {}
            failed = {failure["itemIdentifier"] for failure in result.get("batchItemFailures", [])}
        except Exception:  # a failed or crashed invocation fails the whole batch, as in Lambda
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
