"""What every construct running the decision service is built from, in one frozen bundle."""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import ServiceConfig
from infra.constructs.audit_store import AuditStore
from infra.constructs.functions import LambdaFactory
from infra.constructs.mturk_secret import MTurkSecret

SECRET_MAX_AGE_SECONDS = "300"


@dataclass(frozen=True)
class ServiceContext:
    """The stack's settings, function factory, audit store and MTurk secret.

    Given to `DecisionApi`, `BulkDecisions`, `AutomaticReversals` and `EventIntegration`; each
    takes from it what its functions need (`factory.create`, `audit_store.grant_*`,
    `secret.grant_read`, `service_environment()`).
    """

    config: ServiceConfig
    factory: LambdaFactory
    audit_store: AuditStore
    secret: MTurkSecret

    def service_environment(self) -> dict[str, str]:
        """What every function running the decision service reads (`mturk_decisions.config.Settings`)."""
        return {
            "AUDIT_TABLE_NAME": self.audit_store.audit_table.table_name,
            "IDEMPOTENCY_TABLE_NAME": self.audit_store.idempotency_table.table_name,
            "MTURK_SECRET_ID": self.secret.secret_arn,
            "MTURK_ENDPOINT": self.config.mturk_endpoint,
            "SECRET_MAX_AGE_SECONDS": SECRET_MAX_AGE_SECONDS,
        }
