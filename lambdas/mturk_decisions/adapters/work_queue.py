"""The bulk work queue (SQS): one message per chunk of a batch, read by the batch worker."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Chunk:
    batch_id: str
    hit_id: str | None
    lines: list[int]

    def to_json(self) -> str:
        return json.dumps({"batchId": self.batch_id, "hitId": self.hit_id, "lines": self.lines})

    @classmethod
    def from_json(cls, body: str) -> Chunk:
        data = json.loads(body)
        lines = data["lines"]
        if not isinstance(data["batchId"], str) or not all(isinstance(line, int) for line in lines):
            raise ValueError("malformed chunk")
        return cls(data["batchId"], data.get("hitId"), lines)


class SqsWorkQueue:
    def __init__(self, queue_url: str, client: Any) -> None:
        self._url = queue_url
        self._client = client

    def send(self, chunks: list[Chunk]) -> None:
        for start in range(0, len(chunks), 10):
            group = chunks[start:start + 10]
            entries = [{"Id": str(index), "MessageBody": chunk.to_json()} for index, chunk in enumerate(group)]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            failed = answer.get("Failed") or []
            for entry in failed:  # one retry per entry; SQS batch failures are per message
                self._client.send_message(QueueUrl=self._url, MessageBody=group[int(entry["Id"])].to_json())
