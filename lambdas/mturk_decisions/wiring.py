"""Composition root: builds the services from Settings once per execution environment.

Built lazily on the first invocation (not at import) so a cold start pays only for what it uses, and
replaceable as a whole in tests with `installed(...)`. Nothing here is keyed by class. A part whose
resources are not configured answers a clear 503 when used, instead of failing the whole function.

Each part is made on its first use (`Lazy`, resolved when `Dependencies` hands it out), with the modules it
imports and the clients it needs (`adapters.aws_clients`: one session, models read once): a reject never makes
the batch service, an SQS client or the idempotency layer. `prime()` makes every part that needs no client or
secret, for SnapStart's before-snapshot hook (`mturk_decisions.snapstart`).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from mturk_decisions.adapters.aws_clients import Lazy
from mturk_decisions.config import Settings
from mturk_decisions.domain.errors import NotConfigured

if TYPE_CHECKING:  # the real types, without their import cost at run time
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from mturk_decisions.adapters.audit_store import DynamoAuditStore
    from mturk_decisions.adapters.aws_clients import LazyClients
    from mturk_decisions.adapters.batch_store import DynamoBatchStore
    from mturk_decisions.adapters.dead_letters import DeadLetters
    from mturk_decisions.adapters.event_bus import EventBusPublisher
    from mturk_decisions.adapters.mturk import Boto3MTurkGateway, RetryPolicy
    from mturk_decisions.adapters.mturk_client import MTurkClientProvider
    from mturk_decisions.adapters.work_queue import Chunk
    from mturk_decisions.service.batches import BatchService, BatchSummary
    from mturk_decisions.service.decisions import CompositeObserver, DecisionService
    from mturk_decisions.service.notifications import NotificationIngest
    from mturk_decisions.service.ports import WorkQueue
    from mturk_decisions.service.reconciler import Reconciler
    from mturk_decisions.service.reversal_requests import ReversalRequests
    from mturk_decisions.service.schedules import ReversalScheduler
    from mturk_decisions.service.uploads import UploadService

T = TypeVar("T")
Clock = Callable[[], datetime]
#: What makes MTurk clients: the secret-reading provider, or a test's own function.
ClientProvider = Callable[[], object]


def configured(value: str | None, variable: str) -> str:
    """A resource name the function's environment must give (NotConfigured, a clear 503, when it does not)."""
    if not value:
        raise NotConfigured(f"{variable} is not set in the function's environment.")
    return value


def required(part: Lazy[T] | None, what: str, variables: str) -> T:
    """A part that exists only where its resources are configured: made now, or a clear 503 (NotConfigured)."""
    if part is None:
        raise NotConfigured(f"{what} need {variables} in the function's environment.")
    return part.resolve()


@dataclass(frozen=True)
class Dependencies:
    """Every part a handler may use, each a `Lazy` made on first use; optional ones are None where their
    resources are not configured (`required` answers 503 for them). Frozen: tests install another container
    (`installed`, `dataclasses.replace` with `Lazy.of(...)`) instead of changing this one."""

    settings: Settings
    decisions: Lazy[DecisionService]
    gateway: Lazy[Boto3MTurkGateway]
    idempotency_store: Lazy[DynamoDBPersistenceLayer]
    requests: Lazy[ReversalRequests]
    ingest: Lazy[NotificationIngest]
    reconcile: Lazy[Reconciler]
    #: What reads the MTurk secret and caches a client made with it (`forget()` drops both).
    mturk_client_provider: MTurkClientProvider | ClientProvider
    batches: Lazy[BatchService] | None = None
    scheduler: Lazy[ReversalScheduler] | None = None
    uploads: Lazy[UploadService] | None = None
    events_dlq: Lazy[DeadLetters] | None = None
    notifications_dlq: Lazy[DeadLetters] | None = None

    @property
    def service(self) -> DecisionService:
        return self.decisions.resolve()

    @property
    def mturk(self) -> Boto3MTurkGateway:
        return self.gateway.resolve()

    @property
    def idempotency_persistence(self) -> DynamoDBPersistenceLayer:
        return self.idempotency_store.resolve()

    def reversal_requests(self) -> ReversalRequests:
        return self.requests.resolve()

    def notification_ingest(self) -> NotificationIngest:
        return self.ingest.resolve()

    def reconciler(self) -> Reconciler:
        return self.reconcile.resolve()

    def batch_service(self) -> BatchService:
        return required(self.batches, "Bulk decisions", "BATCH_TABLE_NAME and WORK_QUEUE_URL")

    def upload_service(self) -> UploadService:
        return required(self.uploads, "Uploaded batches", "BATCH_TABLE_NAME and UPLOAD_BUCKET_NAME")

    def reversal_scheduler(self) -> ReversalScheduler:
        return required(self.scheduler, "Scheduled and provisional reversals", "SCHEDULE_TABLE_NAME")

    def events_dead_letters(self) -> DeadLetters:
        return required(self.events_dlq, "Event dead-lettering", "EVENTS_DLQ_URL")

    def notifications_dead_letters(self) -> DeadLetters:
        return required(self.notifications_dlq, "Notification dead-lettering", "NOTIFICATIONS_DLQ_URL")


_current: Dependencies | None = None
#: The MTurk gateways' retry jitter: one generator per environment, reseeded after a SnapStart restore.
jitter = random.Random()


def build(settings: Settings, *, mturk_client_provider: ClientProvider | None = None,
          clock: Clock | None = None) -> Dependencies:
    """Every part `Lazy`: made on first use (a reject never makes the batch service, an SQS client or the
    idempotency layer it does not use), from the parts it needs, each made once."""
    from mturk_decisions.adapters.aws_clients import share_models_with_pynamodb
    from mturk_decisions.observability import secret_redactor

    share_models_with_pynamodb()
    parts = _Parts(settings, mturk_client_provider, clock)
    secret_redactor.install()
    s = settings
    return Dependencies(
        settings=settings, decisions=parts.service, gateway=parts.gateway,
        idempotency_store=Lazy(parts.idempotency_persistence),
        requests=Lazy(parts.requests), ingest=Lazy(parts.ingest), reconcile=Lazy(parts.reconcile),
        mturk_client_provider=parts.provider,
        # the upload parser plans but never queues: no batch service without a work queue
        batches=parts.batches if s.batch_table_name and s.work_queue_url else None,
        scheduler=parts.scheduler if s.schedule_table_name else None,
        uploads=Lazy(parts.uploads) if s.batch_table_name and s.upload_bucket_name else None,
        events_dlq=parts.dead_letters(s.events_dlq_url) if s.events_dlq_url else None,
        notifications_dlq=parts.dead_letters(s.notifications_dlq_url) if s.notifications_dlq_url else None,
    )


class _Parts:
    """The features' builders: each part a `Lazy` made from the others it needs (imports included)."""

    def __init__(self, settings: Settings, mturk_client_provider: ClientProvider | None,
                 clock: Clock | None) -> None:
        from mturk_decisions.adapters.aws_clients import LazyClients
        from mturk_decisions.service.decisions import utc_now

        self.settings, self.clock, self.clients = settings, clock or utc_now, LazyClients(settings.region)
        self.provider: MTurkClientProvider | ClientProvider = (
            mturk_client_provider or _mturk_client_provider(settings))
        self.retry: Lazy[RetryPolicy] = Lazy(self._retry)
        self.gateway: Lazy[Boto3MTurkGateway] = Lazy(self._gateway)
        self.audit: Lazy[DynamoAuditStore] = Lazy(self._audit)
        self.publisher: Lazy[EventBusPublisher | None] = Lazy(self._publisher)
        self.observer: Lazy[CompositeObserver] = Lazy(self._observer)
        self.service: Lazy[DecisionService] = Lazy(self._service)
        self.scheduler: Lazy[ReversalScheduler] = Lazy(self._scheduler)
        self.bulk: Lazy[tuple[BatchService, DynamoBatchStore, Boto3MTurkGateway]] = Lazy(self._bulk)
        self.batches: Lazy[BatchService] = Lazy(lambda: self.bulk.resolve()[0])

    def _retry(self) -> RetryPolicy:
        from mturk_decisions.adapters.mturk import RetryPolicy

        return RetryPolicy(max_attempts=self.settings.mturk_max_attempts)

    def _gateway(self) -> Boto3MTurkGateway:
        from mturk_decisions.adapters.mturk import Boto3MTurkGateway
        from mturk_decisions.observability import mturk_retried

        return Boto3MTurkGateway(self.provider, retry=self.retry.resolve(), on_retry=mturk_retried, rng=jitter,
                                 while_calls_wait=(self._connect_audit, self._connect_event_bus))

    def _connect_audit(self) -> None:
        """Make the audit store and its DynamoDB client while a cold environment's first MTurk request waits for
        its answer (the write-ahead needs them next). A failure is left for the decision's own use to meet."""
        with suppress(Exception):
            self.audit.resolve().connect()

    def _connect_event_bus(self) -> None:
        """Make the event bus's client while the next MTurk request waits (a reject's own write; a reversal's
        balance read): the decision's event is published after its write, so nothing waits for the client."""
        with suppress(Exception):
            publisher = self.publisher.resolve()
            if publisher is not None:
                publisher.connect()

    def _audit(self) -> DynamoAuditStore:
        from mturk_decisions.adapters.audit_store import DynamoAuditStore

        s = self.settings
        return DynamoAuditStore.for_table(s.audit_table_name, s.region, s.dynamodb_endpoint_url)

    def _publisher(self) -> EventBusPublisher | None:
        if not self.settings.event_bus_name:
            return None
        from mturk_decisions.adapters.event_bus import EventBusPublisher
        from mturk_decisions.observability import event_publish_failed

        return EventBusPublisher(self.settings.event_bus_name, self.clients.client("events"),
                                 on_error=event_publish_failed)

    def _observer(self) -> CompositeObserver:
        from mturk_decisions.observability import MetricsObserver
        from mturk_decisions.service.decisions import CompositeObserver, DecisionObserver

        observers: list[DecisionObserver] = [MetricsObserver()]
        publisher = self.publisher.resolve()
        if publisher is not None:
            from mturk_decisions.service.events import DecisionEvents

            observers.append(DecisionEvents(publisher))
        return CompositeObserver(*observers)

    def _service(self) -> DecisionService:
        from mturk_decisions.service.decisions import DecisionService

        # The audit store (PynamoDB, its models, its client) is made on its first use, after the checks: a cold
        # environment makes it while the first MTurk request waits for its answer (`_connect_audit`).
        return DecisionService(self.gateway.resolve(), self.audit.standing_in(), observer=self.observer.resolve(),
                               clock=self.clock)

    def _scheduler(self) -> ReversalScheduler:
        from mturk_decisions.adapters.schedule_store import DynamoScheduleStore
        from mturk_decisions.service.schedules import ReversalScheduler

        s = self.settings
        store = DynamoScheduleStore.for_table(configured(s.schedule_table_name, "SCHEDULE_TABLE_NAME"), s.region,
                                              s.dynamodb_endpoint_url)
        return ReversalScheduler(self.service.resolve(), store, clock=self.clock)

    def _bulk(self) -> tuple[BatchService, DynamoBatchStore, Boto3MTurkGateway]:
        """(batch service, its store, the paced gateway)."""
        return _bulk_service(self.settings, self.clients, self.provider, self.retry.resolve(), self.audit.resolve(),
                             self.observer.resolve(), self.publisher.resolve(), self.clock)

    def uploads(self) -> UploadService:
        return _upload_service(self.settings, self.clients, *self.bulk.resolve(), self.clock)

    def _optional_scheduler(self) -> ReversalScheduler | None:
        return self.scheduler.resolve() if self.settings.schedule_table_name else None

    def _optional_batches(self) -> BatchService | None:
        return self.batches.resolve() if self.settings.batch_table_name and self.settings.work_queue_url else None

    def requests(self) -> ReversalRequests:
        from mturk_decisions.service.reversal_requests import ReversalRequests

        return ReversalRequests(self.service.resolve(), self.gateway.resolve(), self._optional_batches(),
                                self._optional_scheduler())

    def ingest(self) -> NotificationIngest:
        from mturk_decisions.service.notifications import NotificationIngest

        grace = None
        if self.settings.website_rejection_grace:
            from mturk_decisions.domain.schedule import parse_duration

            grace = parse_duration(self.settings.website_rejection_grace)
        return NotificationIngest(self.gateway.resolve(), self.audit.resolve(), self._optional_scheduler(), grace,
                                  clock=self.clock)

    def reconcile(self) -> Reconciler:
        from mturk_decisions.observability import reconcile_failed
        from mturk_decisions.service.reconciler import Reconciler

        return Reconciler(self.gateway.resolve(), self.audit.resolve(),
                          older_than=timedelta(seconds=self.settings.reconcile_after_seconds),
                          on_error=reconcile_failed, clock=self.clock)

    def dead_letters(self, url: str) -> Lazy[DeadLetters]:
        def make() -> DeadLetters:
            from mturk_decisions.adapters.dead_letters import DeadLetters

            return DeadLetters(url, self.clients.client("sqs"))

        return Lazy(make)

    def idempotency_persistence(self) -> DynamoDBPersistenceLayer:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        return DynamoDBPersistenceLayer(table_name=self.settings.idempotency_table_name,
                                        boto3_client=self.clients.client("dynamodb").resolve())


def _mturk_client_provider(settings: Settings) -> MTurkClientProvider:
    """MTurk clients from the requester's keys; the secret is read (and its client made) on the first call."""
    from mturk_decisions.adapters.aws_clients import LazyClients
    from mturk_decisions.adapters.mturk_client import MTurkClientProvider
    from mturk_decisions.observability import secret_redactor

    def secrets() -> SecretsProvider:
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


def _bulk_service(settings: Settings, session: LazyClients, mturk_client_provider: MTurkClientProvider | ClientProvider,
                  retry: RetryPolicy, audit: DynamoAuditStore, observer: CompositeObserver,
                  publisher: EventBusPublisher | None,
                  clock: Clock) -> tuple[BatchService, DynamoBatchStore, Boto3MTurkGateway]:
    """The batch service on the paced MTurk gateway (its work queue only where WORK_QUEUE_URL is set), its store
    and the gateway."""
    from mturk_decisions.adapters.batch_store import DynamoBatchStore
    from mturk_decisions.adapters.mturk import Boto3MTurkGateway
    from mturk_decisions.adapters.shared_pacer import Aimd, DynamoRateBucket, SharedPacer, pacer_model
    from mturk_decisions.adapters.work_queue import SqsWorkQueue
    from mturk_decisions.observability import mturk_retried
    from mturk_decisions.service.batches import BatchService
    from mturk_decisions.service.chunk_runner import Window
    from mturk_decisions.service.decisions import DecisionService

    # One pacer for every worker environment: its state is an item of the batch table.
    pacer = SharedPacer(DynamoRateBucket(
        pacer_model(configured(settings.batch_table_name, "BATCH_TABLE_NAME"), settings.region,
                    settings.dynamodb_endpoint_url),
        Aimd(initial_rate=settings.mturk_initial_rate, max_rate=settings.mturk_max_rate)))
    paced = Boto3MTurkGateway(mturk_client_provider, retry=retry, on_retry=mturk_retried, pacer=pacer, rng=jitter)
    queue: WorkQueue = (SqsWorkQueue(settings.work_queue_url, session.client("sqs")) if settings.work_queue_url
                        else _NoWorkQueue())
    store = DynamoBatchStore.for_table(configured(settings.batch_table_name, "BATCH_TABLE_NAME"), settings.region,
                                       settings.dynamodb_endpoint_url)
    service = BatchService(
        paced,
        DecisionService(paced, audit, observer=observer, clock=clock),
        audit,
        store,
        queue,
        on_completed=_announce_batch(publisher),
        window=Window(rate=lambda: pacer.rate, latency=pacer.latency),
        clock=clock,
        events_batched=publisher.batched if publisher is not None else nullcontext,
    )
    return service, store, paced


class _NoWorkQueue:
    """The work queue of a function that plans batches but never queues them (the upload parser)."""

    def send(self, chunks: list[Chunk]) -> None:
        raise NotConfigured("Queueing batches needs WORK_QUEUE_URL in the function's environment.")


def _upload_service(settings: Settings, session: LazyClients, bulk: BatchService, store: DynamoBatchStore,
                    paced: Boto3MTurkGateway, clock: Clock) -> UploadService:
    """Uploaded batches: the bucket (its S3 client made on first use), the batch service's store and rules."""
    from mturk_decisions.adapters.upload_store import S3Uploads, s3_client
    from mturk_decisions.service.uploads import UploadService

    objects = S3Uploads(configured(settings.upload_bucket_name, "UPLOAD_BUCKET_NAME"), lambda: s3_client(session))
    return UploadService(store, objects, bulk, paced, can_queue=bool(settings.work_queue_url), clock=clock)


def _announce_batch(publisher: EventBusPublisher | None) -> Callable[[BatchSummary], None]:
    def announce(status: BatchSummary) -> None:
        if publisher is not None:
            from mturk_decisions.adapters.event_bus import BATCH_COMPLETED

            publisher.publish(BATCH_COMPLETED, {"batchId": status.info.batch_id, "source": status.info.origin,
                                                "hitId": status.info.hit_id, "total": status.total,
                                                "counts": status.counts})
    return announce


#: The parts `prime` makes: making them reads no secret, makes no client and calls nothing.
CLIENT_FREE_PARTS = ("decisions", "gateway", "scheduler", "batches", "uploads", "requests", "ingest", "reconcile",
                     "events_dlq", "notifications_dlq")


def prime() -> Dependencies:
    """This environment's dependencies with every client-free part made (SnapStart's before-snapshot hook):
    left for first use are the clients, the idempotency layer (its client) and the MTurk secret."""
    dependencies = current()
    for name in CLIENT_FREE_PARTS:
        part = getattr(dependencies, name)
        if part is not None:
            part.resolve()
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


def installed_dependencies() -> Dependencies | None:
    """The dependencies the handlers use now, if any were made or installed (None: built on first use)."""
    return _current


def use(dependencies: Dependencies | None) -> None:
    """Install prebuilt dependencies (the local stack); None rebuilds from the environment on first use."""
    global _current
    _current = dependencies


@contextmanager
def installed(dependencies: Dependencies | None) -> Iterator[Dependencies | None]:
    """The handlers answer with `dependencies` inside the block; the previous ones are back after it."""
    previous = _current
    use(dependencies)
    try:
        yield dependencies
    finally:
        use(previous)
