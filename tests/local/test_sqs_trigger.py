"""The local SQS event source mapping over process environments: concurrent pollers, partial batch failures."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from local.moto_server import SerializedMotoServer
from local.sqs_trigger import LocalSqsTrigger
from local.stack import REGION, free_port
from tests.local.conftest import wait_until


@pytest.fixture(scope="module")
def sqs() -> Iterator:
    server = SerializedMotoServer("127.0.0.1", free_port())
    server.start()
    host, port = server.get_host_and_port()
    yield boto3.client("sqs", region_name=REGION, endpoint_url=f"http://{host}:{port}")
    server.stop()


@pytest.fixture()
def queue(sqs) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=f"work-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def send(sqs, url: str, log: Path, count: int = 1, **body) -> list[str]:
    return [sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"log": str(log), **body}))["MessageId"]
            for _ in range(count)]


def visits(log: Path) -> list[dict]:
    """The visits the handler noted: which process, when, which message."""
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text().splitlines()]
    return [{"pid": int(pid), "start": float(start), "end": float(end), "message": message}
            for pid, start, end, message in rows]


def queue_counts(sqs, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def two_pollers(sqs, queue, environments, tmp_path) -> tuple[str, Path, LocalSqsTrigger]:
    """A started trigger of concurrency two over two warm `visit` environments: (queue URL, visit log, trigger)."""
    url, arn = queue
    runtime = environments("visit", concurrency=2)
    runtime.warm(2)
    return url, tmp_path / "visits.log", LocalSqsTrigger(sqs, url, arn, runtime, batch_size=1, concurrency=2).start()


def test_given_a_trigger_with_concurrency_two_when_messages_arrive_then_two_processes_handle_them_at_once(
        sqs, queue, environments, tmp_path):
    # Given
    url, log, trigger = two_pollers(sqs, queue, environments, tmp_path)
    # When
    try:
        send(sqs, url, log, count=6, sleep=0.3)
        done = wait_until(lambda: len(seen := visits(log)) == 6 and seen, timeout=20)
    finally:
        trigger.stop()
    # Then
    assert len({visit["pid"] for visit in done}) == 2
    overlapping = [(a, b) for a in done for b in done
                   if a["pid"] != b["pid"] and a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, "the two environments never handled messages at the same time"
    assert wait_until(lambda: queue_counts(sqs, url) == (0, 0))


def test_given_a_batch_with_a_failing_message_when_polled_then_only_that_message_stays_for_a_retry(
        sqs, queue, environments, tmp_path):
    # Given
    url, arn = queue
    log = tmp_path / "visits.log"
    send(sqs, url, log, count=2)
    failing = send(sqs, url, log, fail=True)
    trigger = LocalSqsTrigger(sqs, url, arn, environments("visit"), batch_size=10, retry_after_seconds=30)
    # When
    handled = trigger.poll_once()
    # Then
    assert handled == 3 and trigger.invocations == 1
    assert {visit["message"] for visit in visits(log)} >= set(failing)
    assert queue_counts(sqs, url) == (0, 1)  # two deleted, the failed one invisible until its retry


def test_given_a_batch_when_its_environment_crashes_then_the_whole_batch_stays_for_a_retry(
        sqs, queue, environments, tmp_path):
    # Given
    url, arn = queue
    log = tmp_path / "visits.log"
    send(sqs, url, log, count=2)
    send(sqs, url, log, crash=True)
    runtime = environments("visit")
    trigger = LocalSqsTrigger(sqs, url, arn, runtime, batch_size=10, retry_after_seconds=30)
    # When
    handled = trigger.poll_once()
    # Then
    assert handled == 3
    assert queue_counts(sqs, url) == (0, 3)
    assert runtime.stats.crashed == 1


def test_given_one_long_invocation_when_a_message_arrives_meanwhile_then_the_second_poller_takes_it_at_once(
        sqs, queue, environments, tmp_path):
    # Given a trigger of concurrency two whose only message so far takes 3 s to handle
    url, log, trigger = two_pollers(sqs, queue, environments, tmp_path)
    try:
        send(sqs, url, log, sleep=3)
        wait_until(lambda: queue_counts(sqs, url) == (0, 1), timeout=10)
        # When a second message arrives 1.5 s after the first started (the queue looked idle meanwhile)
        time.sleep(1.5)
        send(sqs, url, log, sleep=0)
        done = wait_until(lambda: len(seen := visits(log)) == 2 and seen, timeout=20)
    finally:
        trigger.stop()
    # Then the second was handled while the first still ran, by the other environment
    first, second = sorted(done, key=lambda visit: visit["end"], reverse=True)
    assert second["end"] < first["end"] and second["pid"] != first["pid"]
