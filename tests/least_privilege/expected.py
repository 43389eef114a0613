"""Granted permissions that no scenario exercises: each with the reason (`EXPECTED_UNEXERCISED`), or a
finding about the infrastructure (`FINDINGS`: an excess grant to remove, or a grant missing for a call).

Keys are (function, action, resource label); a label is the template's logical id without CDK's hash
(`AuditStoreAuditTable`, `AuditStoreAuditTable/index/by-hit`, `*`). The test fails on an unexercised
grant listed in neither, and on an entry that no longer matches one (exercised now, or no longer granted).
"""
from __future__ import annotations

from dataclasses import dataclass

API = "mturk-decisions-api"
WORKER = "mturk-decisions-batch-worker"
EVENTS = "mturk-decisions-events"
NOTIFICATIONS = "mturk-decisions-notifications"
SWEEPER = "mturk-decisions-reversal-sweep"
RECONCILER = "mturk-decisions-reconciler"
UPLOAD_PARSER = "mturk-decisions-upload-parser"
ALL = (API, WORKER, EVENTS, NOTIFICATIONS, SWEEPER, RECONCILER, UPLOAD_PARSER)
SQS_CONSUMERS = {WORKER: "BulkDecisionsWorkQueue", EVENTS: "EventIntegrationReversalRequestsQueue",
                 NOTIFICATIONS: "EventIntegrationNotificationsQueue", UPLOAD_PARSER: "BatchUploadsUploadsQueue"}
LOG_GROUPS = {API: "DecisionApiHandlerLogs", WORKER: "BulkDecisionsWorkerLogs",
              EVENTS: "EventIntegrationEventsConsumerLogs", NOTIFICATIONS: "EventIntegrationNotificationsConsumerLogs",
              SWEEPER: "AutomaticReversalsSweeperLogs", RECONCILER: "AutomaticReversalsReconcilerLogs",
              UPLOAD_PARSER: "BatchUploadsParserLogs"}
DATA_KEY = "AuditStoreDataKey"


@dataclass(frozen=True)
class Entry:
    function: str
    action: str
    resource: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.function, self.action, self.resource)


def _entries(functions, actions, resources, reason) -> list[Entry]:
    return [Entry(f, a, r, reason) for f in functions for a in actions for r in resources]


EXPECTED_UNEXERCISED: list[Entry] = [
    # Used by Lambda itself with the function's role, never by the function's code
    *[e for f in ALL for e in _entries(
        [f], ["logs:CreateLogStream", "logs:PutLogEvents"], [LOG_GROUPS[f]],
        "Lambda's runtime writes the function's log streams with its role; the code makes no Logs call")],
    *_entries(ALL, ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"],
              "active tracing: Lambda's X-Ray daemon sends the segments with the role; the code makes no X-Ray call"),
    *[e for f, queue in SQS_CONSUMERS.items() for e in _entries(
        [f], ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
              "sqs:GetQueueUrl"], [queue],
        "the event source mapping polls and deletes with the function's role (locally the trigger does, in the "
        "parent process)")],
    # KMS: DynamoDB asks KMS to decrypt the table key for each caller (kms:Decrypt, exercised); the rest of
    # the table-key grant is infra/constructs/audit_store.py's TABLE_KEY_ACTIONS
    *_entries(ALL, ["kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], [DATA_KEY],
              "the rest of the table-key grant (TABLE_KEY_ACTIONS): a read or write through DynamoDB needs the "
              "caller's kms:Decrypt of the table key (exercised); that DynamoDB never uses these for a caller "
              "cannot be proven offline"),
    # Paths the scenarios cannot reach
    Entry(WORKER, "dynamodb:Query", "BulkDecisionsBatchTable",
          "a batch stored before META carried its counters (kept 90 days) is counted once from its items "
          "(BatchService.summary -> all_items: Query) when its last chunk is done; every batch the scenarios "
          "store has its counters"),
    Entry(API, "dynamodb:GetItem", "AuditStoreIdempotencyTable",
          "Powertools reads an idempotency record only when DynamoDB's ConditionalCheckFailed omits it "
          "(ReturnValuesOnConditionCheckFailure: always returned by DynamoDB, and by moto)"),
]


@dataclass(frozen=True)
class Finding:
    """Grants no code path of the function uses (excess), or calls its role does not allow (missing): for the
    owner of `infra/` to fix. Each is an xfail (strict) test until it is fixed, then its entry goes."""

    id: str
    kind: str  # "excess" | "missing"
    text: str
    entries: tuple[Entry, ...]


def _finding(id: str, kind: str, text: str, pairs) -> Finding:
    return Finding(id, kind, text, tuple(Entry(f, a, r, f"{kind}: {text}") for f, a, r in pairs))


AUDIT = "AuditStoreAuditTable"
SCHEDULE = "AutomaticReversalsScheduleTable"
#: Empty: the five excess grants this test found (audit index queries, schedule UpdateItem, the sweeper's
#: schedule GetItem, the notifications consumer's audit GetItem/UpdateItem and its schedule grant without a
#: grace) were removed from infra/ in the same change that made them visible.
FINDINGS: list[Finding] = []
FINDING_ENTRIES: list[Entry] = [entry for finding in FINDINGS for entry in finding.entries]
