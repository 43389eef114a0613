"""moto with DynamoDB's atomicity: one request at a time, and SQS long polls that do not hold the others up."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from local.moto_server import SerializedMotoServer, _operation
from local.stack import REGION, free_port
from tests.local.conftest import wait_until

WRITERS = 12


@pytest.fixture()
def serialized_server() -> Iterator[SerializedMotoServer]:
    server = SerializedMotoServer("127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def serialized_moto(serialized_server) -> str:
    host, port = serialized_server.get_host_and_port()
    return f"http://{host}:{port}"


@pytest.fixture()
def threaded_moto() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def slow_condition_checks(monkeypatch):
    """moto reads the item, then parses the condition, then writes: make that gap 50 ms, as a busy machine
    might, so that concurrent writers overlap in it whenever the server lets them."""
    import moto.dynamodb.models.table as table

    parse = table.get_filter_expression

    def slowly(*args, **kwargs):
        time.sleep(0.05)
        return parse(*args, **kwargs)

    monkeypatch.setattr(table, "get_filter_expression", slowly)


def dynamodb(url: str):
    return boto3.client("dynamodb", region_name=REGION, endpoint_url=url,
                        config=Config(max_pool_connections=WRITERS, retries={"max_attempts": 1}))


def first_writer_wins(url: str) -> int:
    """WRITERS threads put the same new item at once, each only if it does not exist; answers how many succeeded."""
    client, table = dynamodb(url), f"claims-{uuid.uuid4().hex[:8]}"  # moto's tables are shared by its servers
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    start, winners = threading.Barrier(WRITERS), []

    def claim(writer: int) -> None:
        start.wait()
        try:
            client.put_item(TableName=table, Item={"pk": {"S": "assignment-1"}, "writer": {"N": str(writer)}},
                            ConditionExpression="attribute_not_exists(pk)")
            winners.append(writer)
        except client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=claim, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(winners)


def test_given_many_writers_of_one_new_item_when_moto_serializes_requests_then_exactly_one_succeeds(
        serialized_moto, slow_condition_checks):
    # Given the serialized server, and moto's condition check slowed down
    # When twelve threads put the same item at once, each only if it does not exist yet
    winners = first_writer_wins(serialized_moto)
    # Then exactly one write succeeded, as in DynamoDB
    assert winners == 1


def test_given_many_writers_of_one_new_item_when_moto_runs_requests_in_parallel_then_several_succeed(
        threaded_moto, slow_condition_checks):
    # Given moto's own threaded server (what the local stack used before), with the same slow check
    # When the same twelve writers race
    winners = first_writer_wins(threaded_moto)
    # Then more than one conditional write succeeded: the race the serialized server rules out
    assert winners > 1


def test_given_a_long_poll_on_an_empty_queue_when_other_requests_arrive_then_they_are_not_held_up(
        serialized_server, serialized_moto):
    # Given a receive waiting up to 3 s on an empty queue
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=serialized_moto)
    queue = sqs.create_queue(QueueName=f"work-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    received: dict = {}
    poll = threading.Thread(target=lambda: received.update(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=3)))
    started = time.monotonic()
    poll.start()
    wait_until(lambda: serialized_server.app.long_polls_waiting == 1)
    # When another client lists its tables, and a message is sent
    before = time.monotonic()
    tables = dynamodb(serialized_moto).list_tables()
    listing = time.monotonic() - before
    sqs.send_message(QueueUrl=queue, MessageBody="chunk 1")
    poll.join(timeout=5)
    # Then the listing did not wait for the poll, and the message ended the poll before its 3 s
    assert "TableNames" in tables and listing < 1.0
    assert [message["Body"] for message in received.get("Messages", [])] == ["chunk 1"]
    assert time.monotonic() - started < 2.5


def test_given_a_transaction_whose_condition_fails_when_moto_serializes_requests_then_no_item_changes(
        serialized_moto):
    # Given an existing lease and a decision record under one key, a fresh key for a new record
    client = dynamodb(serialized_moto)
    table = f"audit-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName=table, Item={"pk": {"S": "A1"}, "sk": {"S": "lease"}, "holder": {"S": "d1"}})
    client.put_item(TableName=table, Item={"pk": {"S": "A1"}, "sk": {"S": "d1"}, "state": {"S": "PENDING"}})
    # When one transaction writes a new record, finalizes the old one, and takes a lease someone holds
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "A1"}, "sk": {"S": "d2"}, "state": {"S": "PENDING"}}}},
            {"Update": {"TableName": table, "Key": {"pk": {"S": "A1"}, "sk": {"S": "d1"}},
                        "UpdateExpression": "SET #s = :done", "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":done": {"S": "SUCCEEDED"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "A1"}, "sk": {"S": "lease"}, "holder": {"S": "d2"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    # Then every item is as it was before the transaction
    items = client.query(TableName=table, KeyConditionExpression="pk = :a",
                         ExpressionAttributeValues={":a": {"S": "A1"}})["Items"]
    assert sorted((item["sk"]["S"], item.get("state", item.get("holder"))["S"]) for item in items) == [
        ("d1", "PENDING"), ("lease", "d1")]


def test_given_a_transaction_whose_conditions_hold_when_moto_serializes_requests_then_every_item_changes(
        serialized_moto):
    # Given
    client = dynamodb(serialized_moto)
    table = f"audit-{uuid.uuid4().hex[:8]}"
    client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName=table, Item={"pk": {"S": "d1"}, "state": {"S": "PENDING"}})
    # When
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "d2"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Delete": {"TableName": table, "Key": {"pk": {"S": "d1"}}}},
    ])
    # Then
    assert [item["pk"]["S"] for item in client.scan(TableName=table)["Items"]] == ["d2"]


def test_given_a_long_poll_on_an_empty_queue_when_messages_go_to_another_queue_then_moto_does_not_receive_again(
        serialized_server, serialized_moto, monkeypatch):
    # Given a receive waiting 1 s on an empty queue, and moto's handling of requests counted
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=serialized_moto)
    waiting = sqs.create_queue(QueueName=f"idle-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    busy = sqs.create_queue(QueueName=f"busy-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    app = serialized_server.app
    handled: list[tuple[str, str]] = []
    handle = app._handle
    monkeypatch.setattr(app, "_handle", lambda environ, body: handled.append((_operation(environ, body), body.decode()))
                        or handle(environ, body))
    received: dict = {}
    poll = threading.Thread(target=lambda: received.update(sqs.receive_message(QueueUrl=waiting, WaitTimeSeconds=1)))
    poll.start()
    wait_until(lambda: app.long_polls_waiting == 1)
    # When ten messages are sent to the other queue (each send wakes the waiting poll)
    for number in range(10):
        sqs.send_message(QueueUrl=busy, MessageBody=f"chunk {number}")
    poll.join(timeout=5)
    # Then the poll ended empty, and moto received on its queue only once: waking it found nothing to receive
    assert not received.get("Messages")
    assert [operation for operation, body in handled if waiting.rsplit("/", 1)[1] in body] == ["ReceiveMessage"]


def test_given_an_item_copied_by_moto_when_the_copy_changes_then_the_original_does_not():
    # Given moto's item copies made directly (install_fast_item_copies), and an item with nested values
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    from local.moto_server import install_fast_item_copies

    install_fast_item_copies()
    item = Item(DynamoType({"S": "A1"}), DynamoType({"S": "META"}),
                {"counts": {"M": {"SUCCEEDED": {"N": "3"}, "lines": {"L": [{"N": "1"}, {"SS": ["a", "b"]}]}}},
                 "blob": {"B": b"\x00\x01"}, "name": {"S": "batch"}})
    # When it is copied and the copy's nested values change
    copied = copy.deepcopy(item)
    same = copied == item and copied.to_json() == item.to_json() and type(copied.attrs) is type(item.attrs)
    copied.attrs["counts"].value["lines"].value[0].value = "9"
    copied.attrs["counts"].value["SUCCEEDED"] = DynamoType({"N": "4"})
    # Then the copy was equal, and the original keeps its values
    assert same
    assert item.to_json()["Attributes"]["counts"] == {"M": {"SUCCEEDED": {"N": "3"},
                                                            "lines": {"L": [{"N": "1"}, {"SS": ["a", "b"]}]}}}


def test_given_moto_routing_requests_when_its_module_list_is_read_once_then_it_is_moto_own_list():
    # Given moto's own listing of its package (read from its directory), taken before the patch
    from moto import backends

    from local.moto_server import install_module_list_once

    listed = list(backends.list_of_moto_modules()) if not getattr(
        backends.list_of_moto_modules, "read_once", False) else None
    # When the list is read once and asked for twice
    install_module_list_once()
    first, second = list(backends.list_of_moto_modules()), list(backends.list_of_moto_modules())
    # Then both are the same full list (moto's, when it was not patched already by this process)
    assert first == second and "dynamodb" in first and "sqs" in first
    assert listed is None or listed == first
