"""Composition root: builds the service from Settings once per execution environment.

Built lazily on the first invocation (not at import) so a cold start pays only for what it uses, and
replaceable as a whole in tests with `use(...)`. Nothing here is keyed by class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mturk_decisions.config import Settings
from mturk_decisions.service.decisions import DecisionService


@dataclass
class Dependencies:
    settings: Settings
    service: DecisionService
    idempotency_persistence: Any  # a Powertools BasePersistenceLayer
    batches: Any = None  # BatchService when the batch table and queue are configured

    def batch_service(self):
        if self.batches is None:
            from mturk_decisions.domain.errors import BulkNotConfigured

            raise BulkNotConfigured("Bulk decisions need BATCH_TABLE_NAME and WORK_QUEUE_URL in the environment.")
        return self.batches


_current: Dependencies | None = None


def build(settings: Settings, *, mturk_client_provider: Callable[[], Any] | None = None, clock=None) -> Dependencies:
    import boto3
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from mturk_decisions.adapters.audit_store import DynamoAuditStore
    from mturk_decisions.adapters.mturk import Boto3MTurkGateway, RetryPolicy
    from mturk_decisions.adapters.mturk_client import MTurkClientProvider
    from mturk_decisions.observability import MetricsObserver, mturk_retried, secret_redactor

    session = boto3.session.Session()
    if mturk_client_provider is None:
        mturk_client_provider = MTurkClientProvider(
            secret_id=settings.mturk_secret_id,
            endpoint=settings.mturk_endpoint,
            secrets_provider=SecretsProvider(boto3_session=session),
            max_age_seconds=settings.secret_max_age_seconds,
            on_secret_read=secret_redactor.remember,
        )
    gateway = Boto3MTurkGateway(
        mturk_client_provider,
        retry=RetryPolicy(max_attempts=settings.mturk_max_attempts),
        on_retry=mturk_retried,
    )
    audit = DynamoAuditStore.for_table(settings.audit_table_name, settings.region, settings.dynamodb_endpoint_url)
    extra = {"clock": clock} if clock else {}
    service = DecisionService(gateway, audit, observer=MetricsObserver(), **extra)
    batches = None
    if settings.batch_table_name and settings.work_queue_url:
        from mturk_decisions.adapters.batch_store import DynamoBatchStore
        from mturk_decisions.adapters.pacing import AdaptivePacer
        from mturk_decisions.adapters.work_queue import SqsWorkQueue
        from mturk_decisions.service.batches import BatchService

        paced = Boto3MTurkGateway(
            mturk_client_provider,
            retry=RetryPolicy(max_attempts=settings.mturk_max_attempts),
            on_retry=mturk_retried,
            pacer=AdaptivePacer(initial_rate=settings.mturk_initial_rate, max_rate=settings.mturk_max_rate),
        )
        batches = BatchService(
            paced,
            DecisionService(paced, audit, observer=MetricsObserver(), **extra),
            audit,
            DynamoBatchStore.for_table(settings.batch_table_name, settings.region, settings.dynamodb_endpoint_url),
            SqsWorkQueue(settings.work_queue_url, session.client("sqs")),
            **extra,
        )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table_name, boto3_client=session.client("dynamodb")
    )
    secret_redactor.install()
    return Dependencies(settings=settings, service=service, idempotency_persistence=persistence, batches=batches)


def current() -> Dependencies:
    global _current
    if _current is None:
        _current = build(Settings.from_env())
    return _current


def use(dependencies: Dependencies | None) -> None:
    """Install prebuilt dependencies (tests, the local stack); None rebuilds from the environment."""
    global _current
    _current = dependencies
