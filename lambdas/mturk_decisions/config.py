"""Settings read from the environment in one place (the CDK stack and the local stack set them)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    audit_table_name: str
    idempotency_table_name: str
    mturk_secret_id: str
    mturk_endpoint: str = "sandbox"
    region: str | None = None
    dynamodb_endpoint_url: str | None = None
    secret_max_age_seconds: int = 300
    mturk_max_attempts: int = 6
    idempotency_expiry_seconds: int = 24 * 3600
    batch_table_name: str | None = None
    work_queue_url: str | None = None
    #: The work queue's redrive maxReceiveCount: the delivery that, failing, sends a chunk to the DLQ.
    work_queue_max_receives: int = 5
    mturk_initial_rate: float = 5.0
    mturk_max_rate: float = 50.0
    schedule_table_name: str | None = None
    event_bus_name: str | None = None
    events_dlq_url: str | None = None
    notifications_queue_url: str | None = None
    notifications_dlq_url: str | None = None
    website_rejection_grace: str | None = None
    reconcile_after_seconds: int = 900
    #: The bucket uploaded batch-results CSVs are PUT to (POST /batches/uploads) and read from (the parser).
    upload_bucket_name: str | None = None
    #: The uploads queue's redrive maxReceiveCount: the delivery that, failing, makes the batch INVALID.
    upload_queue_max_receives: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in ("AUDIT_TABLE_NAME", "IDEMPOTENCY_TABLE_NAME", "MTURK_SECRET_ID") if not env.get(name)]
        if missing:
            raise RuntimeError(f"Missing configuration: set {', '.join(missing)} in the function's environment.")
        return cls(
            audit_table_name=env["AUDIT_TABLE_NAME"],
            idempotency_table_name=env["IDEMPOTENCY_TABLE_NAME"],
            mturk_secret_id=env["MTURK_SECRET_ID"],
            mturk_endpoint=env.get("MTURK_ENDPOINT", "sandbox") or "sandbox",
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            dynamodb_endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB") or env.get("AWS_ENDPOINT_URL"),
            secret_max_age_seconds=int(env.get("SECRET_MAX_AGE_SECONDS", "300")),
            mturk_max_attempts=int(env.get("MTURK_MAX_ATTEMPTS", "6")),
            idempotency_expiry_seconds=int(env.get("IDEMPOTENCY_EXPIRY_SECONDS", str(24 * 3600))),
            batch_table_name=env.get("BATCH_TABLE_NAME") or None,
            work_queue_url=env.get("WORK_QUEUE_URL") or None,
            work_queue_max_receives=int(env.get("WORK_QUEUE_MAX_RECEIVES", "5")),
            mturk_initial_rate=float(env.get("MTURK_INITIAL_RATE", "5")),
            mturk_max_rate=float(env.get("MTURK_MAX_RATE", "50")),
            schedule_table_name=env.get("SCHEDULE_TABLE_NAME") or None,
            event_bus_name=env.get("EVENT_BUS_NAME") or None,
            events_dlq_url=env.get("EVENTS_DLQ_URL") or None,
            notifications_queue_url=env.get("NOTIFICATIONS_QUEUE_URL") or None,
            notifications_dlq_url=env.get("NOTIFICATIONS_DLQ_URL") or None,
            website_rejection_grace=env.get("WEBSITE_REJECTION_GRACE") or None,
            reconcile_after_seconds=int(env.get("RECONCILE_AFTER_SECONDS", "900")),
            upload_bucket_name=env.get("UPLOAD_BUCKET_NAME") or None,
            upload_queue_max_receives=int(env.get("UPLOAD_QUEUE_MAX_RECEIVES", "5")),
        )
