"""Messages the service cannot act on (malformed events or notifications) go to a DLQ with the reason."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class DeadLetters:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url, self._client = queue_url, client

    def send(self, raw_body: str, reason: str, origin: str) -> None:
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps({"reason": reason, "origin": origin, "body": raw_body}),
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]},
                               "origin": {"DataType": "String", "StringValue": origin}},
        )

    def handle(self, raw_body: str, origin: str, act: Callable[[Any], T],
               malformed: tuple[type[Exception], ...]) -> T | None:
        """Act on a JSON message; one that is not JSON or that `act` finds malformed is dead-lettered with
        its reason (and not retried: it would fail the same way). Other errors propagate, for SQS to retry."""
        try:
            return act(json.loads(raw_body))
        except json.JSONDecodeError as error:
            reason = f"not JSON: {error}"
        except malformed as error:
            reason = getattr(error, "reason", None) or getattr(error, "message", None) or str(error)
        self.send(raw_body, reason, origin)
        from mturk_decisions.observability import logger

        logger.warning("malformed message moved to the DLQ", extra={"origin": origin, "reason": reason})
        return None
