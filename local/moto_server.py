"""moto's server with DynamoDB's atomicity: one request at a time.

moto's threaded server handles requests in parallel threads with no locking, so two concurrent conditional
writes to one item can both succeed; real DynamoDB never allows that. `SerializedMotoServer` holds one lock
while moto handles a request and its response body is read, so each request is atomic (an SQS receive too:
one message goes to one receiver). SQS long polls would hold that lock for their whole wait, so they are
turned into short polls repeated outside the lock until a message arrives or the wait is over.

moto also measures an item's size again each time one of its attributes is set (the 400 KB limit): a put
costs the square of its attributes, most of a BatchWriteItem's time (an uploaded batch writes 100,000 items);
`install_single_size_check_on_put` checks the size once, with the same limit.

One request at a time also makes moto's transactions cheap: moto backs up, whole, every table a
TransactWriteItems touches (a deepcopy costing 100+ ms once a table holds a few hundred items, the
demo's bulk path's main cost); with nothing running alongside, backing up the touched items is enough.

`python -m local.moto_server --host 127.0.0.1 --port 5055` runs it as a process (the demo does).
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import signal
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from werkzeug.serving import ThreadedWSGIServer

#: A long poll re-checks the queue at least this often (visibility timeouts expire without a request).
LONG_POLL_RECHECK_SECONDS = 0.2
#: Requests after which a waiting long poll may find a message.
_DELIVERING = {"SendMessage", "SendMessageBatch", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
               "PutEvents"}
_FORM = "application/x-www-form-urlencoded"


_serving = threading.local()  # `one`: this thread handles a request of a serialized server


class OneRequestAtATime:
    """WSGI middleware: the app handles one request at a time, body and all."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._turn = threading.Condition()
        self.long_polls_waiting = 0  # receives waiting for a message now, outside the lock
        #: Called with (service target prefix, operation, body) for every request, from any process's
        #: client (benchmarks count DynamoDB writes here, whichever execution environment made them).
        self.observers: list[Callable[[str, str, bytes], None]] = []

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        body = _read_request_body(environ)
        operation = _operation(environ, body)
        for observe in self.observers:
            observe(environ.get("HTTP_X_AMZ_TARGET", "").split(".", 1)[0], operation, body)
        wait, queue_url = 0.0, None
        if operation == "ReceiveMessage":
            body, wait, queue_url = _short_poll(environ, body)
        deadline = time.monotonic() + wait
        with self._turn:
            status, headers, answer = self._handle(environ, body)
            while status.startswith("200") and not _has_messages(answer):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.long_polls_waiting += 1
                self._turn.wait(min(remaining, LONG_POLL_RECHECK_SECONDS))
                self.long_polls_waiting -= 1
                if _may_receive(queue_url):  # else the empty answer stands: nothing to receive yet
                    status, headers, answer = self._handle(environ, body)
            if operation in _DELIVERING:
                self._turn.notify_all()
        start_response(status, headers)
        return [answer]

    def _handle(self, environ: dict, body: bytes) -> tuple[str, list, bytes]:
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable[[bytes], None]:
            captured.update(status=status, headers=headers)
            return chunks.append

        _serving.one = True
        try:
            answer = self.app(environ, capture)
            try:
                chunks.extend(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
        finally:
            _serving.one = False
        return captured["status"], captured["headers"], b"".join(chunks)


def _read_request_body(environ: dict) -> bytes:
    """The whole request body, read before taking the lock (a slow client must not hold everyone up)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def _operation(environ: dict, body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    params = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if environ.get("CONTENT_TYPE", "").startswith(_FORM):
        params.update(parse_qsl(body.decode("utf-8", errors="replace")))
    return params.get("Action", "")


def _short_poll(environ: dict, body: bytes) -> tuple[bytes, float, str | None]:
    """The receive with WaitTimeSeconds=0, how long the caller asked to wait (a queue's default wait
    is not looked up: locally, a receive without WaitTimeSeconds is a short poll), and its queue's URL."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        try:
            request = json.loads(body or b"{}")
            wait = float(request.get("WaitTimeSeconds") or 0)
        except (ValueError, TypeError, AttributeError):
            return body, 0.0, None  # moto answers the malformed request itself
        request["WaitTimeSeconds"] = 0
        url = request.get("QueueUrl")
        return json.dumps(request).encode(), wait, url if isinstance(url, str) else None
    params = parse_qsl(body.decode("utf-8", errors="replace"))
    named = dict(params)
    try:
        wait = float(named.get("WaitTimeSeconds") or 0)
    except ValueError:
        return body, 0.0, None
    params = [(name, value) for name, value in params if name != "WaitTimeSeconds"] + [("WaitTimeSeconds", "0")]
    return urlencode(params).encode(), wait, named.get("QueueUrl")


def _may_receive(queue_url: str | None) -> bool:
    """Whether a waiting receive on `queue_url` may now find a message: one of the queue's messages is visible
    (moto's own test, read in its memory, not through a request). A queue it cannot name: yes (ask moto)."""
    from moto.sqs.models import sqs_backends

    account, _, name = (queue_url or "").rstrip("/").rpartition("/")
    account = account.rpartition("/")[2]
    if not name or account not in sqs_backends:
        return True
    queues = [backend.queues[name] for backend in sqs_backends[account].values() if name in backend.queues]
    return not queues or any(queue.messages for queue in queues)


def _has_messages(answer: bytes) -> bool:
    if not answer.lstrip().startswith(b"{"):
        return b"<Message>" in answer
    try:
        return bool(json.loads(answer).get("Messages"))
    except ValueError:
        return True  # not a receive's answer: return it as it is


def install_item_level_transaction_backups() -> None:
    """For requests of a serialized server only: moto's TransactWriteItems backs up the items it touches
    instead of deep-copying their tables (its whole-table rollback becomes a no-op; ours restores them)."""
    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "item_level_backups", False):
        return
    original, real_copy = backend.transact_write_items, models.copy

    class TablesByReference:
        """`copy` for moto's DynamoDB module: a table is 'copied' by reference while backups are item-level."""

        def deepcopy(self, value: Any, memo: Any = None) -> Any:
            if getattr(_serving, "item_backups", False) and isinstance(value, models.Table):
                return value
            return real_copy.deepcopy(value, memo)

        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched_items(self, transact_items) if getattr(_serving, "one", False) else None
        if saved is None:
            return original(self, transact_items)
        _serving.item_backups = True
        try:
            return original(self, transact_items)
        except Exception:
            _restore(saved)
            raise
        finally:
            _serving.item_backups = False

    transact_write_items.item_level_backups = True  # type: ignore[attr-defined]
    # Patched on purpose: moto's module-level `copy` and its backend's method (mypy sees a module and a method).
    models.copy = TablesByReference()  # type: ignore[assignment]
    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def install_single_size_check_on_put() -> None:
    """moto's new items (PutItem, BatchWriteItem, a transaction's Put) check the 400 KB limit once, on the whole
    item, instead of once per attribute over every attribute set so far (the same limit: the sizes only grow
    while an item is built). Updates to an existing item keep moto's own check."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    item = dynamo_type.Item
    if getattr(item.__init__, "single_size_check", False):
        return

    def __init__(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key, self.range_key = hash_key, range_key
        converted = {key: dynamo_type.DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in converted.items()) > MOTO_ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = dynamo_type.LimitedSizeDict()
        dict.update(self.attrs, converted)

    __init__.single_size_check = True  # type: ignore[attr-defined]
    item.__init__ = __init__  # type: ignore[method-assign]  # patched on purpose: moto's Item constructor


def install_fast_item_copies() -> None:
    """moto deep-copies an item before each update (and our transactions back up the items they touch) with
    `copy.deepcopy`'s generic walk, re-checking the 400 KB limit once per attribute as the copy is rebuilt:
    most of an UpdateItem's time. The same copy, made directly: each attribute's value copied, the size
    not measured again (a copy has the size of its original, which passed the limit)."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict

    if getattr(Item, "__deepcopy__", None) is not None:
        return

    def copy_value(value: Any) -> Any:
        if isinstance(value, str | bytes | int | float | bool | None):
            return value
        return copy_dynamo_type(value) if isinstance(value, DynamoType) else copy.deepcopy(value)

    def copy_dynamo_type(value: DynamoType, memo: dict | None = None) -> DynamoType:
        copied = object.__new__(DynamoType)
        copied.__dict__.update(value.__dict__)
        if isinstance(value.value, list):
            copied.value = [copy_value(element) for element in value.value]
        elif isinstance(value.value, dict):
            copied.value = {key: copy_value(element) for key, element in value.value.items()}
        else:
            copied.value = copy_value(value.value)
        return copied

    def copy_item(item: Item, memo: dict | None = None) -> Item:
        copied = object.__new__(Item)
        copied.__dict__.update({name: copy.deepcopy(value) for name, value in vars(item).items() if name != "attrs"})
        copied.attrs = LimitedSizeDict()
        dict.update(copied.attrs, {name: copy_dynamo_type(value) for name, value in item.attrs.items()})
        return copied

    DynamoType.__deepcopy__ = copy_dynamo_type  # type: ignore[attr-defined]  # patched on purpose
    Item.__deepcopy__ = copy_item  # type: ignore[attr-defined]


def install_module_list_once() -> None:
    """moto lists its own package directory (listdir + isdir of 150 entries) for every request it routes; the
    list cannot change while it runs, so it is read once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "read_once", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> Iterable[str]:
        return iter(modules)

    list_of_moto_modules.read_once = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


#: moto's own limit of an item's size (DynamoDB's 400 KB, as moto measures it: `LimitedSizeDict`).
MOTO_ITEM_SIZE_LIMIT = 405000


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple] | None:
    """(table, hash key, range key, a copy of the item or None) for each item of the transaction; None when
    the request is malformed (moto answers it its own way, with its own backups)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    saved = []
    try:
        for entry in transact_items:
            op = next(iter(entry.values()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = op.get("Key") or op["Item"]
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    except Exception:  # malformed: let moto validate it
        return None
    return saved


def _restore(saved: list[tuple]) -> None:
    for table, hash_key, range_key, item in reversed(saved):
        if item is None:
            table.delete_item(hash_key, range_key)
        elif range_key is None:
            table.items[hash_key] = item
        else:
            table.items[hash_key][range_key] = item


class SerializedMotoServer:
    """`moto.server.ThreadedMotoServer`'s interface, with one request at a time (see the module doc)."""

    def __init__(self, ip_address: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self._address = (ip_address, port)
        self._verbose = verbose
        self._server: ThreadedWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: OneRequestAtATime | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        # moto's werkzeug server writes headers and body separately; without this every call waits ~40 ms.
        socketserver.StreamRequestHandler.disable_nagle_algorithm = True
        install_item_level_transaction_backups()
        install_single_size_check_on_put()
        install_fast_item_copies()
        install_module_list_once()
        self.app = OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
        # What werkzeug's make_server(..., threaded=True) builds, typed as such.
        self._server = ThreadedWSGIServer(*self._address, self.app)
        self._server.daemon_threads = True  # a kept-alive connection must not hold up stop()
        self._server.block_on_close = False
        if self._verbose:
            print(f"moto (one request at a time) on http://{self._address[0]}:{self.get_host_and_port()[1]}")
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        assert self._server is not None, "Make sure to call start() first"
        host, port = self._server.server_address[:2]
        return str(host), port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.moto_server", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server = SerializedMotoServer(args.host, args.port, verbose=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
