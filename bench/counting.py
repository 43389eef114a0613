"""Counting DynamoDB writes: made by this process (`install`), or by any process, seen by the local moto
server (`observe_moto`), which is how the bench counts the writes of workers in their own environments.

Method: every botocore client (boto3's, PynamoDB's and Powertools') sends its calls through
``botocore.client.BaseClient._make_api_call``; while a ``DynamoDBWriteCounter`` is installed it wraps
that method and counts, per operation, the items each DynamoDB write call carries:
PutItem / UpdateItem / DeleteItem = 1, BatchWriteItem = the number of put/delete requests in
``RequestItems``, TransactWriteItems = the number of ``TransactItems``. Reads (GetItem, Query,
BatchGetItem, ...) are counted by call for information. Calls that fail are counted too: they cost a
request all the same.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import botocore.client

WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def write_items(operation: str, params: dict[str, Any]) -> int:
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 1
    if operation == "BatchWriteItem":
        return sum(len(requests) for requests in (params.get("RequestItems") or {}).values())
    if operation == "TransactWriteItems":
        return len(params.get("TransactItems") or [])
    return 0


class DynamoDBWriteCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._original = None

    def install(self) -> DynamoDBWriteCounter:
        original = botocore.client.BaseClient._make_api_call
        counter = self

        def counting(client, operation_name, api_params):
            if client.meta.service_model.service_name == "dynamodb":
                counter.record(operation_name, api_params)
            return original(client, operation_name, api_params)

        self._original = original
        botocore.client.BaseClient._make_api_call = counting
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original
            self._original = None

    def observe_moto(self, server: Any) -> DynamoDBWriteCounter:
        """Count every DynamoDB request the serialized moto server receives (instead of this process's)."""
        import json

        def seen(target_prefix: str, operation: str, body: bytes) -> None:
            if target_prefix.startswith("DynamoDB"):
                self.record(operation, json.loads(body or b"{}"))

        server.app.observers.append(seen)
        return self

    def record(self, operation: str, params: dict[str, Any]) -> None:
        with self._lock:
            self.calls[operation] += 1
            if operation in WRITE_OPERATIONS:
                self.items[operation] += write_items(operation, params)

    def reset(self) -> None:
        with self._lock:
            self.items.clear()
            self.calls.clear()

    @property
    def writes(self) -> int:
        with self._lock:
            return sum(self.items.values())

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"writeItems": dict(self.items), "calls": dict(self.calls)}

    def __enter__(self) -> DynamoDBWriteCounter:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()
