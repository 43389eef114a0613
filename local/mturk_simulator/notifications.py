"""MTurk notifications: HIT-type notification settings, MTurk's event document, delivery to SQS.

MTurk sends one JSON document per SQS message::

    {"Events":[{"EventType":"AssignmentRejected","EventTimestamp":"2026-11-23T16:00:00Z",
                "HITId":"...","AssignmentId":"...","HITTypeId":"..."}],
     "EventDocId":"<40 hex>","SourceAccount":"<requester's AWS account>",
     "CustomerId":"<requester's MTurk customer id>","EventDocVersion":"2014-08-15"}

Delivery is at least once: the same ``EventDocId`` may arrive twice (``Notifier.duplicates``).
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from . import errors
from .errors import ApiError, request_error
from .model import HIT, Assignment, new_id
from .rules import stamp

EVENT_DOC_VERSION = "2014-08-15"
#: Versions accepted in a notification specification: the one MTurk's API reference gives and the one
#: botocore's documentation (and most public code) uses. Either way MTurk sends 2014-08-15 documents.
SPEC_VERSIONS = ("2014-08-15", "2006-05-05")
TEST_ONLY_EVENT = "Ping"
DELIVERED_TRANSPORTS = ("SQS",)
ONLY_SQS_MESSAGE = "Only SQS destinations are supported by the MTurk simulator."
# https://sqs.<region>.amazonaws.com/<12-digit account>/<queue name>, or a local one (moto, ElasticMQ).
_QUEUE_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(?::\d{1,5})?/\d{12}/(?P<name>[A-Za-z0-9_-]{1,80}(?:\.fifo)?)$")
_HIT_EVENTS = frozenset({"HITCreated", "HITExpired", "HITReviewable", "HITExtended", "HITDisposed"})
#: Fake credentials for the simulator's own SQS client (a local SQS such as moto ignores them).
SQS_REGION = "us-east-1"
SQS_ACCESS_KEY_ID = "SIMULATORSQSKEY"
SQS_SECRET_ACCESS_KEY = "simulator-sqs-secret"
# boto3 clients are thread-safe and slow to create: one per endpoint, shared by all simulators of the process.
_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _invalid(message: str, now: datetime) -> ApiError:
    return request_error(stamp(message, now), errors.INVALID_PARAMETER_VALUE)


def timestamp(when: datetime) -> str:
    """MTurk's EventTimestamp: ISO 8601 in UTC to the second, e.g. ``2026-11-23T16:00:00Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class NotificationSpec:
    """A ``NotificationSpecification`` as sent in UpdateNotificationSettings / SendTestEventNotification."""

    destination: str
    transport: str
    version: str
    event_types: tuple[str, ...]

    def to_api(self) -> dict[str, Any]:
        return {"Destination": self.destination, "Transport": self.transport, "Version": self.version,
                "EventTypes": list(self.event_types)}


@dataclass
class NotificationSetting:
    """The notification settings of one requester's HIT type."""

    spec: NotificationSpec
    active: bool

    def to_json(self, hit_type_id: str) -> dict[str, Any]:
        return {"HITTypeId": hit_type_id, "Notification": self.spec.to_api(), "Active": self.active}


def check_spec(notification: dict[str, Any], now: datetime, for_test: bool = False) -> NotificationSpec:
    """Apply MTurk's rules beyond the service model (which already checked required members and enums).

    Raises ``RequestError``: SNS and Email transports are refused (the simulator delivers to SQS only),
    the destination must be an SQS standard queue URL, the version one of ``SPEC_VERSIONS``, and
    ``EventTypes`` non-empty, with ``Ping`` only in SendTestEventNotification.
    """
    transport = notification["Transport"]
    if transport not in DELIVERED_TRANSPORTS:
        raise request_error(stamp(ONLY_SQS_MESSAGE, now), errors.UNSUPPORTED_OPERATION)
    destination = notification["Destination"]
    match = _QUEUE_URL.fullmatch(destination)
    if match is None:
        raise _invalid(f"Destination {destination} is not an Amazon SQS queue URL "
                       "(https://sqs.<region>.amazonaws.com/<account id>/<queue name>).", now)
    if match["name"].endswith(".fifo"):
        raise _invalid(f"Destination {destination} is a FIFO queue; MTurk notifications need a standard queue.", now)
    version = notification["Version"]
    if version not in SPEC_VERSIONS:
        raise _invalid(f"Version {version} is not a supported notification version; use {EVENT_DOC_VERSION}.", now)
    event_types = tuple(dict.fromkeys(notification["EventTypes"]))
    if not event_types:
        raise _invalid("EventTypes must list at least one event type.", now)
    if not for_test and TEST_ONLY_EVENT in event_types:
        raise _invalid("The Ping event type is only valid for the SendTestEventNotification operation.", now)
    return NotificationSpec(destination, transport, version, event_types)


def event(event_type: str, now: datetime, hit: HIT | None = None, assignment: Assignment | None = None) -> dict[str, Any]:
    """One element of ``Events``, with MTurk's members in MTurk's order (no WorkerId: MTurk sends none)."""
    item: dict[str, Any] = {"EventType": event_type, "EventTimestamp": timestamp(now)}
    if hit is not None:
        item["HITId"] = hit.hit_id
    if assignment is not None:
        item["AssignmentId"] = assignment.assignment_id
    if hit is not None:
        item["HITTypeId"] = hit.hit_type_id
    return item


def sample_event(event_type: str, now: datetime) -> dict[str, Any]:
    """The event SendTestEventNotification sends: ``Ping`` bare, others with placeholder IDs."""
    item: dict[str, Any] = {"EventType": event_type, "EventTimestamp": timestamp(now)}
    if event_type != TEST_ONLY_EVENT:
        item["HITId"] = new_id()
        if event_type not in _HIT_EVENTS:
            item["AssignmentId"] = new_id()
        item["HITTypeId"] = new_id()
    return item


@dataclass(frozen=True)
class Outgoing:
    """A notification decided under the simulator's lock, sent after it is released."""

    destination: str
    events: tuple[dict[str, Any], ...]
    access_key_id: str
    source_account: str
    customer_id: str

    def document(self, event_doc_id: str) -> dict[str, Any]:
        return {"Events": [dict(e) for e in self.events], "EventDocId": event_doc_id,
                "SourceAccount": self.source_account, "CustomerId": self.customer_id,
                "EventDocVersion": EVENT_DOC_VERSION}


@dataclass(frozen=True)
class NotificationRecord:
    """One SQS SendMessage the simulator attempted (a duplicate is a second record, same ``event_doc_id``)."""

    operation: str
    """What caused it: ``RejectAssignment``, ``Website.ApproveAssignment``, ``SendTestEventNotification``, ..."""
    access_key_id: str
    destination: str
    event_doc_id: str
    events: list[dict[str, Any]]
    body: str
    """The message body exactly as sent."""
    ok: bool
    sim_time: datetime
    endpoint_url: str
    duplicate: bool = False
    message_id: str | None = None
    error: str | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["sim_time"] = self.sim_time.isoformat()
        return record


class Notifier:
    """Sends notifications to SQS through boto3 and logs every attempt; never raises.

    The endpoint is ``endpoint_url`` when set, else the scheme and host of the queue URL itself
    (which is where MTurk sends: a moto queue URL such as ``http://127.0.0.1:5000/123456789012/q``
    works unconfigured). ``AWS_ENDPOINT_URL*`` variables and AWS profiles are not consulted.
    """

    def __init__(self, endpoint_url: str | None = None) -> None:
        self._lock = threading.Lock()
        self._records: list[NotificationRecord] = []
        self.endpoint_url: str | None = None
        self.duplicates = False
        self.set_endpoint(endpoint_url)

    def set_endpoint(self, url: str | None) -> None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not an http(s) endpoint URL: {url!r}")
            url = url.rstrip("/")
        self.endpoint_url = url

    @property
    def settings(self) -> dict[str, Any]:
        return {"sqsEndpoint": self.endpoint_url, "duplicates": self.duplicates}

    def records(self) -> list[NotificationRecord]:
        with self._lock:
            return list(self._records)

    def reset_log(self) -> None:
        with self._lock:
            self._records.clear()

    def deliver(self, outgoing: list[Outgoing], operation: str, sim_time: datetime) -> list[NotificationRecord]:
        sent = []
        for notification in outgoing:
            event_doc_id = secrets.token_hex(20)
            body = json.dumps(notification.document(event_doc_id), separators=(",", ":"))
            for copy in range(2 if self.duplicates else 1):
                sent.append(self._send(notification, operation, sim_time, event_doc_id, body, duplicate=copy > 0))
        return sent

    def _send(self, notification: Outgoing, operation: str, sim_time: datetime, event_doc_id: str, body: str,
              duplicate: bool) -> NotificationRecord:
        endpoint = self.endpoint_url or _origin(notification.destination)
        message_id = error = None
        try:
            response = _sqs_client(endpoint).send_message(QueueUrl=notification.destination, MessageBody=body)
            message_id = response.get("MessageId")
        except Exception as exc:  # a delivery failure must never fail the MTurk call
            error = f"{type(exc).__name__}: {exc}"
            print(f"mturk-simulator: notification {event_doc_id} to {notification.destination} via {endpoint} "
                  f"failed: {error}", file=sys.stderr, flush=True)
        record = NotificationRecord(
            operation=operation, access_key_id=notification.access_key_id, destination=notification.destination,
            event_doc_id=event_doc_id, events=[dict(e) for e in notification.events], body=body, ok=error is None,
            sim_time=sim_time, endpoint_url=endpoint, duplicate=duplicate, message_id=message_id, error=error)
        with self._lock:
            self._records.append(record)
        return record


def _sqs_client(endpoint: str) -> Any:
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(endpoint)
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.session.Session().client(
                "sqs", region_name=SQS_REGION, endpoint_url=endpoint,
                aws_access_key_id=SQS_ACCESS_KEY_ID, aws_secret_access_key=SQS_SECRET_ACCESS_KEY,
                config=Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 1}))
            _CLIENTS[endpoint] = client
        return client


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
