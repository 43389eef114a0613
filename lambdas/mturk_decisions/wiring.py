"""Composition root: builds the services from Settings once per execution environment.

Built lazily on the first invocation (not at import) so a cold start pays only for what it uses, and
replaceable as a whole in tests with `use(...)`. Nothing here is keyed by class. A part whose
resources are not configured answers a clear 503 when used, instead of failing the whole function.

Each part is made on its first use (`Lazy`, resolved when `Dependencies` hands it out), with the modules it
imports and the clients it needs (`adapters.aws_clients`: one session, models read once): a reject never makes
the batch service, an SQS client or the idempotency layer. `prime()` makes every part that needs no client or
secret, for SnapStart's before-snapshot hook (`mturk_decisions.snapstart`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from mturk_decisions.adapters.aws_clients import Lazy
from mturk_decisions.config import Settings
from mturk_decisions.domain.errors import NotConfigured
from mturk_decisions.service.decisions import DecisionService


@dataclass
class Dependencies:
    settings: Settings
    service: DecisionService
    idempotency_persistence: Any  # a Powertools BasePersistenceLayer
    mturk: Any = None
    batches: Any = None
    scheduler: Any = None
    requests: Any = None
    ingest: Any = None
    reconcile: Any = None
    events_dlq: Any = None
    notifications_dlq: Any = None
    uploads: Any = None
    #: What reads the MTurk secret and caches a client made with it (`forget()` drops both).
    mturk_client_provider: Any = None

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if type(value) is Lazy:  # a part `build` left to its first use: made now, then held as itself
            value = value.resolve()
            object.__setattr__(self, name, value)
        return value

    def batch_service(self):
        return _configured(self.batches, "Bulk decisions", "BATCH_TABLE_NAME and WORK_QUEUE_URL")

    def upload_service(self):
        return _configured(self.uploads, "Uploaded batches", "BATCH_TABLE_NAME and UPLOAD_BUCKET_NAME")

    def reversal_scheduler(self):
        return _configured(self.scheduler, "Scheduled and provisional reversals", "SCHEDULE_TABLE_NAME")

    def reversal_requests(self):
        return self.requests

    def notification_ingest(self):
        return self.ingest

    def reconciler(self):
        return self.reconcile

    def events_dead_letters(self):
        return _configured(self.events_dlq, "Event dead-lettering", "EVENTS_DLQ_URL")

    def notifications_dead_letters(self):
        return _configured(self.notifications_dlq, "Notification dead-lettering", "NOTIFICATIONS_DLQ_URL")


def _configured(part: Any, what: str, variables: str) -> Any:
    if part is None:
        raise NotConfigured(f"{what} need {variables} in the function's environment.")
    return part


_current: Dependencies | None = None
#: The MTurk gateways' retry jitter: one generator per environment, reseeded after a SnapStart restore.
jitter = random.Random()


def build(settings: Settings, *, mturk_client_provider: Callable[[], Any] | None = None, clock=None) -> Dependencies:
    """Every part `Lazy`: made on first use (a reject never makes the batch service, an SQS client or the
    idempotency layer it does not use), from the parts it needs, each made once."""
    from mturk_decisions.adapters.aws_clients import share_models_with_pynamodb
    from mturk_decisions.observability import secret_redactor

    share_models_with_pynamodb()
    parts = _Parts(settings, mturk_client_provider, {"clock": clock} if clock else {})
    dead_letters = {name: Lazy(lambda url=url: parts.dead_letters(url)) if url else None
                    for name, url in (("events", settings.events_dlq_url),
                                      ("notifications", settings.notifications_dlq_url))}
    secret_redactor.install()
    return Dependencies(
        settings=settings,
        service=parts.service,
        idempotency_persistence=Lazy(parts.idempotency_persistence),
        mturk=parts.gateway,
        batches=Lazy(lambda: parts.bulk.resolve()[0]) if settings.batch_table_name and settings.work_queue_url
        else None,  # the upload parser plans but never queues
        scheduler=parts.scheduler if settings.schedule_table_name else None,
        requests=Lazy(parts.requests),
        ingest=Lazy(parts.ingest),
        reconcile=Lazy(parts.reconcile),
        events_dlq=dead_letters["events"],
        notifications_dlq=dead_letters["notifications"],
        uploads=Lazy(parts.uploads) if settings.batch_table_name and settings.upload_bucket_name else None,
        mturk_client_provider=parts.provider,
    )


class _Parts:
    """The parts of `Dependencies`, each a `Lazy` made from the others it needs (imports included)."""

    def __init__(self, settings: Settings, mturk_client_provider: Callable[[], Any] | None, clocked: dict) -> None:
        from mturk_decisions.adapters.aws_clients import LazyClients

        self.settings, self.clocked, self.clients = settings, clocked, LazyClients(settings.region)
        self.provider = mturk_client_provider or _mturk_client_provider(settings)
        self.retry, self.gateway, self.audit = Lazy(self._retry), Lazy(self._gateway), Lazy(self._audit)
        self.publisher, self.observer = Lazy(self._publisher), Lazy(self._observer)
        self.service, self.scheduler, self.bulk = Lazy(self._service), Lazy(self._scheduler), Lazy(self._bulk)

    def _retry(self):
        from mturk_decisions.adapters.mturk import RetryPolicy

        return RetryPolicy(max_attempts=self.settings.mturk_max_attempts)

    def _gateway(self):
        from mturk_decisions.adapters.mturk import Boto3MTurkGateway
        from mturk_decisions.observability import mturk_retried

        return Boto3MTurkGateway(self.provider, retry=self.retry.resolve(), on_retry=mturk_retried, rng=jitter)

    def _audit(self):
        from mturk_decisions.adapters.audit_store import DynamoAuditStore

        s = self.settings
        return DynamoAuditStore.for_table(s.audit_table_name, s.region, s.dynamodb_endpoint_url)

    def _publisher(self):
        if not self.settings.event_bus_name:
            return None
        from mturk_decisions.adapters.event_bus import EventBusPublisher
        from mturk_decisions.observability import event_publish_failed

        return EventBusPublisher(self.settings.event_bus_name, self.clients.client("events"),
                                 on_error=event_publish_failed)

    def _observer(self):
        from mturk_decisions.observability import MetricsObserver
        from mturk_decisions.service.decisions import CompositeObserver

        observers = [MetricsObserver()]
        if self.publisher.resolve() is not None:
            from mturk_decisions.service.events import DecisionEvents

            observers.append(DecisionEvents(self.publisher.resolve()))
        return CompositeObserver(*observers)

    def _service(self):
        return DecisionService(self.gateway.resolve(), self.audit.resolve(), observer=self.observer.resolve(),
                               **self.clocked)

    def _scheduler(self):
        from mturk_decisions.adapters.schedule_store import DynamoScheduleStore
        from mturk_decisions.service.schedules import ReversalScheduler

        s = self.settings
        store = DynamoScheduleStore.for_table(s.schedule_table_name, s.region, s.dynamodb_endpoint_url)
        return ReversalScheduler(self.service.resolve(), store, **self.clocked)

    def _bulk(self):
        """(batch service, its store, the paced gateway)."""
        return _bulk_service(self.settings, self.clients, self.provider, self.retry.resolve(), self.audit.resolve(),
                             self.observer.resolve(), self.publisher.resolve(), self.clocked)

    def uploads(self):
        return _upload_service(self.settings, self.clients, *self.bulk.resolve(), self.clocked)

    def _optional_scheduler(self):
        return self.scheduler.resolve() if self.settings.schedule_table_name else None

    def _optional_batches(self):
        return self.bulk.resolve()[0] if self.settings.batch_table_name and self.settings.work_queue_url else None

    def requests(self):
        from mturk_decisions.service.reversal_requests import ReversalRequests

        return ReversalRequests(self.service.resolve(), self.gateway.resolve(), self._optional_batches(),
                                self._optional_scheduler())

    def ingest(self):
        from mturk_decisions.service.notifications import NotificationIngest

        grace = None
        if self.settings.website_rejection_grace:
            from mturk_decisions.domain.schedule import parse_duration

            grace = parse_duration(self.settings.website_rejection_grace)
        return NotificationIngest(self.gateway.resolve(), self.audit.resolve(), self._optional_scheduler(), grace,
                                  **self.clocked)

    def reconcile(self):
        from mturk_decisions.observability import reconcile_failed
        from mturk_decisions.service.reconciler import Reconciler

        return Reconciler(self.gateway.resolve(), self.audit.resolve(),
                          older_than=timedelta(seconds=self.settings.reconcile_after_seconds),
                          on_error=reconcile_failed, **self.clocked)

    def dead_letters(self, url: str):
        from mturk_decisions.adapters.dead_letters import DeadLetters

        return DeadLetters(url, self.clients.client("sqs"))

    def idempotency_persistence(self):
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(table_name=self.settings.idempotency_table_name,
                                        boto3_client=self.clients.client("dynamodb").resolve())


def _mturk_client_provider(settings: Settings):
    """MTurk clients from the requester's keys; the secret is read (and its client made) on the first call."""
    from mturk_decisions.adapters.aws_clients import LazyClients
    from mturk_decisions.adapters.mturk_client import MTurkClientProvider
    from mturk_decisions.observability import secret_redactor

    def secrets():
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        provider = SecretsProvider(boto3_client=LazyClients(settings.region).client("secretsmanager").resolve())
        secret_redactor.install()  # botocore's loggers made since the last install get the filter too
        return provider

    return MTurkClientProvider(
        secret_id=settings.mturk_secret_id,
        endpoint=settings.mturk_endpoint,
        secrets_provider=Lazy(secrets),
        max_age_seconds=settings.secret_max_age_seconds,
        on_secret_read=secret_redactor.remember,
    )


def _bulk_service(settings: Settings, session, mturk_client_provider, retry, audit, observer, publisher, clocked):
    """The batch service on the paced MTurk gateway (its work queue only where WORK_QUEUE_URL is set), its store
    and the gateway."""
    from mturk_decisions.adapters.batch_store import DynamoBatchStore
    from mturk_decisions.adapters.mturk import Boto3MTurkGateway
    from mturk_decisions.adapters.shared_pacer import Aimd, DynamoRateBucket, SharedPacer, pacer_model
    from mturk_decisions.adapters.work_queue import SqsWorkQueue
    from mturk_decisions.observability import mturk_retried
    from mturk_decisions.service.batches import BatchService
    from mturk_decisions.service.chunk_runner import Window

    # One pacer for every worker environment: its state is an item of the batch table.
    pacer = SharedPacer(DynamoRateBucket(
        pacer_model(settings.batch_table_name, settings.region, settings.dynamodb_endpoint_url),
        Aimd(initial_rate=settings.mturk_initial_rate, max_rate=settings.mturk_max_rate)))
    paced = Boto3MTurkGateway(mturk_client_provider, retry=retry, on_retry=mturk_retried, pacer=pacer, rng=jitter)
    queue = SqsWorkQueue(settings.work_queue_url, session.client("sqs")) if settings.work_queue_url else None
    store = DynamoBatchStore.for_table(settings.batch_table_name, settings.region, settings.dynamodb_endpoint_url)
    service = BatchService(
        paced,
        DecisionService(paced, audit, observer=observer, **clocked),
        audit,
        store,
        queue,
        on_completed=_announce_batch(publisher),
        window=Window(rate=lambda: pacer.rate, latency=pacer.latency),
        **clocked,
    )
    return service, store, paced


def _upload_service(settings: Settings, session, bulk, store, paced, clocked):
    """Uploaded batches: the bucket (its S3 client made on first use), the batch service's store and rules."""
    from mturk_decisions.adapters.upload_store import S3Uploads, s3_client
    from mturk_decisions.service.uploads import UploadService

    objects = S3Uploads(settings.upload_bucket_name, lambda: s3_client(session))
    return UploadService(store, objects, bulk, paced, can_queue=bool(settings.work_queue_url), **clocked)


def _announce_batch(publisher) -> Callable[[Any], None]:
    def announce(status) -> None:
        if publisher is not None:
            from mturk_decisions.adapters.event_bus import BATCH_COMPLETED

            publisher.publish(BATCH_COMPLETED, {"batchId": status.info.batch_id, "source": status.info.origin,
                                                "hitId": status.info.hit_id, "total": status.total,
                                                "counts": status.counts})
    return announce


#: The parts `prime` makes: making them reads no secret, makes no client and calls nothing.
CLIENT_FREE_PARTS = ("service", "mturk", "scheduler", "batches", "uploads", "requests", "ingest", "reconcile",
                     "events_dlq", "notifications_dlq")


def prime() -> Dependencies:
    """This environment's dependencies with every client-free part made (SnapStart's before-snapshot hook):
    left for first use are the clients, the idempotency layer (its client) and the MTurk secret."""
    dependencies = current()
    for name in CLIENT_FREE_PARTS:
        getattr(dependencies, name)
    return dependencies


def forget_secrets() -> None:
    """Drop the MTurk secret and client this environment's dependencies cache (read again on first use)."""
    forget = getattr(_current.mturk_client_provider, "forget", None) if _current is not None else None
    if forget is not None:
        forget()


def current() -> Dependencies:
    global _current
    if _current is None:
        _current = build(Settings.from_env())
    return _current


def use(dependencies: Dependencies | None) -> None:
    """Install prebuilt dependencies (tests, the local stack); None rebuilds from the environment."""
    global _current
    _current = dependencies
