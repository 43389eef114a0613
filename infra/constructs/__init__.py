"""One construct per concern; `infra.stack.MTurkDecisionsStack` wires them."""

from infra.constructs.audit_store import AuditStore
from infra.constructs.automatic_reversals import AutomaticReversals
from infra.constructs.batch_uploads import BatchUploads
from infra.constructs.bulk_decisions import BulkDecisions
from infra.constructs.decision_api import DecisionApi
from infra.constructs.event_integration import EventIntegration
from infra.constructs.functions import FunctionSpec, LambdaFactory
from infra.constructs.layers import Layers
from infra.constructs.mturk_secret import MTurkSecret
from infra.constructs.operations import Operations
from infra.constructs.queues import QueueWithDeadLetters
from infra.constructs.service_context import ServiceContext

__all__ = [
    "AuditStore",
    "AutomaticReversals",
    "BatchUploads",
    "BulkDecisions",
    "DecisionApi",
    "EventIntegration",
    "FunctionSpec",
    "LambdaFactory",
    "Layers",
    "MTurkSecret",
    "Operations",
    "QueueWithDeadLetters",
    "ServiceContext",
]
