"""Messages the service cannot act on (malformed events or notifications) go to a DLQ with the reason."""
from __future__ import annotations

import json
from typing import Any


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
