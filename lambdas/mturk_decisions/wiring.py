"""Composition root: builds the services from Settings once per execution environment.

Built lazily on the first invocation (not at import) so a cold start pays only for what it uses, and
replaceable as a whole in tests with `use(...)`. Nothing here is keyed by class. A part whose
resources are not configured answers a clear 503 when used, instead of failing the whole function.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

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

    def batch_service(self):
        return _configured(self.batches, "Bulk decisions", "BATCH_TABLE_NAME and WORK_QUEUE_URL")

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


def build(settings: Settings, *, mturk_client_provider: Callable[[], Any] | None = None, clock=None) -> Dependencies:
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from mturk_decisions.adapters.audit_store import DynamoAuditStore
    from mturk_decisions.adapters.mturk import Boto3MTurkGateway, RetryPolicy
    from mturk_decisions.adapters.mturk_client import MTurkClientProvider
    from mturk_decisions.observability import (
        MetricsObserver,
        event_publish_failed,
        mturk_retried,
        reconcile_failed,
        secret_redactor,
    )
    from mturk_decisions.service.decisions import CompositeObserver
    from mturk_decisions.service.notifications import NotificationIngest
    from mturk_decisions.service.reconciler import Reconciler
    from mturk_decisions.service.reversal_requests import ReversalRequests

    session = boto3.session.Session()
    if mturk_client_provider is None:
        mturk_client_provider = MTurkClientProvider(
            secret_id=settings.mturk_secret_id,
            endpoint=settings.mturk_endpoint,
            secrets_provider=SecretsProvider(boto3_session=session),
            max_age_seconds=settings.secret_max_age_seconds,
            on_secret_read=secret_redactor.remember,
        )
    retry = RetryPolicy(max_attempts=settings.mturk_max_attempts)
    gateway = Boto3MTurkGateway(mturk_client_provider, retry=retry, on_retry=mturk_retried)
    audit = DynamoAuditStore.for_table(settings.audit_table_name, settings.region, settings.dynamodb_endpoint_url)
    clocked = {"clock": clock} if clock else {}

    observers = [MetricsObserver()]
    publisher = None
    if settings.event_bus_name:
        from mturk_decisions.adapters.event_bus import EventBusPublisher
        from mturk_decisions.service.events import DecisionEvents

        publisher = EventBusPublisher(settings.event_bus_name, session.client("events"), on_error=event_publish_failed)
        observers.append(DecisionEvents(publisher))
    observer = CompositeObserver(*observers)
    service = DecisionService(gateway, audit, observer=observer, **clocked)

    scheduler = None
    if settings.schedule_table_name:
        from mturk_decisions.adapters.schedule_store import DynamoScheduleStore
        from mturk_decisions.service.schedules import ReversalScheduler

        store = DynamoScheduleStore.for_table(settings.schedule_table_name, settings.region,
                                              settings.dynamodb_endpoint_url)
        scheduler = ReversalScheduler(service, store, **clocked)

    batches = None
    if settings.batch_table_name and settings.work_queue_url:
        from mturk_decisions.adapters.batch_store import DynamoBatchStore
        from mturk_decisions.adapters.shared_pacer import Aimd, DynamoRateBucket, SharedPacer, pacer_model
        from mturk_decisions.adapters.work_queue import SqsWorkQueue
        from mturk_decisions.service.batches import BatchService
        from mturk_decisions.service.chunk_runner import Window

        # One pacer for every worker environment: its state is an item of the batch table.
        pacer = SharedPacer(DynamoRateBucket(
            pacer_model(settings.batch_table_name, settings.region, settings.dynamodb_endpoint_url),
            Aimd(initial_rate=settings.mturk_initial_rate, max_rate=settings.mturk_max_rate)))
        paced = Boto3MTurkGateway(mturk_client_provider, retry=retry, on_retry=mturk_retried, pacer=pacer)
        batches = BatchService(
            paced,
            DecisionService(paced, audit, observer=observer, **clocked),
            audit,
            DynamoBatchStore.for_table(settings.batch_table_name, settings.region, settings.dynamodb_endpoint_url),
            SqsWorkQueue(settings.work_queue_url, session.client("sqs")),
            on_completed=_announce_batch(publisher),
            window=Window(rate=lambda: pacer.rate, latency=pacer.latency),
            **clocked,
        )

    grace = None
    if settings.website_rejection_grace:
        from mturk_decisions.domain.schedule import parse_duration

        grace = parse_duration(settings.website_rejection_grace)
    dead_letters = {}
    for name, url in (("events", settings.events_dlq_url), ("notifications", settings.notifications_dlq_url)):
        if url:
            from mturk_decisions.adapters.dead_letters import DeadLetters

            dead_letters[name] = DeadLetters(url, session.client("sqs"))

    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=session.client("dynamodb")
    )
    secret_redactor.install()
    return Dependencies(
        settings=settings,
        service=service,
        idempotency_persistence=persistence,
        mturk=gateway,
        batches=batches,
        scheduler=scheduler,
        requests=ReversalRequests(service, gateway, batches, scheduler),
        ingest=NotificationIngest(gateway, audit, scheduler, grace, **clocked),
        reconcile=Reconciler(gateway, audit, older_than=timedelta(seconds=settings.reconcile_after_seconds),
                             on_error=reconcile_failed, **clocked),
        events_dlq=dead_letters.get("events"),
        notifications_dlq=dead_letters.get("notifications"),
    )


def _announce_batch(publisher) -> Callable[[Any], None]:
    def announce(status) -> None:
        if publisher is not None:
            from mturk_decisions.adapters.event_bus import BATCH_COMPLETED

            publisher.publish(BATCH_COMPLETED, {"batchId": status.info.batch_id, "source": status.info.origin,
                                                "hitId": status.info.hit_id, "total": status.total,
                                                "counts": status.counts})
    return announce


def current() -> Dependencies:
    global _current
    if _current is None:
        _current = build(Settings.from_env())
    return _current


def use(dependencies: Dependencies | None) -> None:
    """Install prebuilt dependencies (tests, the local stack); None rebuilds from the environment."""
    global _current
    _current = dependencies
