"""The audit table (system of record of every decision) and the idempotency cache.

Both tables are encrypted with one customer-managed KMS key (rotation on), which
the other tables of the service (the bulk batch table, the reversal schedule table)
share: every table is made by `create_table` (on-demand, this key, PITR) and used
with `grant_table_key`. The audit table and its key are RETAINED when the stack is
deleted: the audit trail outlives the deployment. The idempotency table is a cache
and is destroyed.

Grants are explicit (action lists below, exact index ARNs, KMS use limited to
calls made through DynamoDB) rather than `grant_read_write_data`, which would add
`kms:ReEncrypt*`/`kms:GenerateDataKey*` and `dynamodb:*Batch*`/`Scan`/`DeleteItem`.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# Contract with the PynamoDB model in lambdas/ (AuditRecord).
AUDIT_PARTITION_KEY = "assignment_id"
AUDIT_SORT_KEY = "decision_key"
AUDIT_INDEXES: dict[str, str] = {
    # index name -> partition key; every index sorts on `decision_key`, projects ALL.
    "by-worker": "worker_id",
    "by-hit": "hit_id",
    "by-pending": "pending",  # sparse: only PENDING records carry `pending`
    "by-day": "day",  # the decision's UTC day: GET /decisions?since=&until= without a worker or HIT
}
# Contract with Powertools' DynamoDBPersistenceLayer defaults.
IDEMPOTENCY_PARTITION_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"

# Deciders write ahead with the lease (PutItem x2 in a transaction), finalize and release (UpdateItem x2),
# read leases and records (GetItem) and an assignment's history (Query on the table).
AUDIT_WRITER_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:Query")
AUDIT_READER_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
# The notifications consumer reads a history (Query) and records a website decision once (conditional PutItem).
AUDIT_RECORDER_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query")
IDEMPOTENCY_ACTIONS = ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
# What DynamoDB needs from the caller to use a customer-managed table key.
TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")


class AuditStore(Construct):
    """KMS key + audit table (+3 GSIs) + idempotency table, and the grants on them."""

    def __init__(self, scope: Construct, construct_id: str, *, existing_key_arn: str | None = None,
                 existing_audit_table_name: str | None = None) -> None:
        """`existing_*`: adopt the retained key and audit table of an earlier deployment (after a destroy),
        so its audit trail and pending reversals carry on; otherwise create them."""
        super().__init__(scope, construct_id)
        self._add_key(existing_key_arn)
        if existing_audit_table_name:
            self.audit_table = self.adopt_table(self, "AuditTable", existing_audit_table_name, AUDIT_INDEXES)
        else:
            self.audit_table = self.create_table(
                self,
                "AuditTable",
                partition_key=AUDIT_PARTITION_KEY,
                sort_key=AUDIT_SORT_KEY,
                indexes={name: (partition_key, AUDIT_SORT_KEY) for name, partition_key in AUDIT_INDEXES.items()},
                retain=True,
            )
        self.idempotency_table = self.create_table(
            self,
            "IdempotencyTable",
            partition_key=IDEMPOTENCY_PARTITION_KEY,
            time_to_live_attribute=IDEMPOTENCY_TTL_ATTRIBUTE,
            # A cache of in-flight/completed request results: safe to drop with the stack.
            retain=False,
        )

    def _add_key(self, existing_key_arn: str | None) -> None:
        if existing_key_arn:
            self.key: kms.IKey = kms.Key.from_key_arn(self, "DataKey", existing_key_arn)
            return
        self.key = kms.Key(
            self,
            "DataKey",
            description="mturk-decisions: encrypts the service's DynamoDB tables (audit, idempotency, batches)",
            enable_key_rotation=True,
            # The retained audit table stays readable only while its key exists.
            removal_policy=RemovalPolicy.RETAIN,
        )

    # ---- the service's tables ------------------------------------------------------------------
    def adopt_table(self, scope: Construct, construct_id: str, table_name: str,
                    indexes: Mapping[str, object]) -> dynamodb.ITable:
        """A retained table of an earlier deployment, by name (encrypted with the adopted `key`)."""
        return dynamodb.Table.from_table_attributes(
            scope, construct_id, table_name=table_name, encryption_key=self.key, global_indexes=list(indexes))

    def create_table(
        self,
        scope: Construct,
        construct_id: str,
        *,
        partition_key: str,
        sort_key: str | None = None,
        time_to_live_attribute: str | None = None,
        indexes: Mapping[str, tuple[str, str]] | None = None,
        retain: bool,
    ) -> dynamodb.Table:
        """A table with the house settings: on-demand, encrypted with `key`, PITR on.

        Keys are strings; `indexes` maps each GSI name to its (partition key, sort key), every GSI
        projecting ALL. `retain=True` for a system of record (deletion protection on, RETAINED
        with the stack), `retain=False` for operational state or a cache (DESTROYED with it).
        Functions using the table also need `grant_table_key`.
        """
        table = dynamodb.Table(
            scope,
            construct_id,
            partition_key=_string_attribute(partition_key),
            sort_key=_string_attribute(sort_key) if sort_key else None,
            time_to_live_attribute=time_to_live_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True if retain else None,
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
        )
        for index_name, (index_partition_key, index_sort_key) in (indexes or {}).items():
            table.add_global_secondary_index(
                index_name=index_name,
                partition_key=_string_attribute(index_partition_key),
                sort_key=_string_attribute(index_sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table

    # ---- names/ARNs for later constructs -------------------------------------------------
    @property
    def audit_table_name(self) -> str:
        return self.audit_table.table_name

    @property
    def audit_table_arn(self) -> str:
        return self.audit_table.table_arn

    @property
    def audit_index_arns(self) -> list[str]:
        return [f"{self.audit_table.table_arn}/index/{name}" for name in AUDIT_INDEXES]

    # ---- grants ----------------------------------------------------------------------------
    def index_arns(self, names: tuple[str, ...]) -> list[str]:
        unknown = set(names) - set(AUDIT_INDEXES)
        if unknown:
            raise ValueError(f"no audit index {sorted(unknown)}")
        return [f"{self.audit_table.table_arn}/index/{name}" for name in names]

    def grant_audit_write(self, grantee: iam.IGrantable, *, indexes: tuple[str, ...] = ()) -> None:
        """Decide: leases and records on the table, and Query on exactly the `indexes` the function reads
        (the API: `by-worker`, `by-hit` for GET /decisions; no other decider queries an index)."""
        self.grant_table_actions(grantee, AUDIT_WRITER_ACTIONS, [self.audit_table.table_arn])
        if indexes:
            self.grant_table_actions(grantee, ("dynamodb:Query",), self.index_arns(indexes))

    def grant_audit_read(self, grantee: iam.IGrantable, *, indexes: tuple[str, ...] = ()) -> None:
        """Read-only access to the table, and Query on the named indexes (the reconciler: `by-pending`)."""
        self.grant_table_actions(grantee, AUDIT_READER_ACTIONS, [self.audit_table.table_arn])
        if indexes:
            self.grant_table_actions(grantee, ("dynamodb:Query",), self.index_arns(indexes))

    def grant_audit_record(self, grantee: iam.IGrantable) -> None:
        """Record decisions made elsewhere (the website): read a history, put a record once."""
        self.grant_table_actions(grantee, AUDIT_RECORDER_ACTIONS, [self.audit_table.table_arn])

    def grant_idempotency(self, grantee: iam.IGrantable) -> None:
        """What Powertools' DynamoDB idempotency persistence layer calls."""
        self.grant_table_actions(grantee, IDEMPOTENCY_ACTIONS, [self.idempotency_table.table_arn])

    def grant_table_key(self, grantee: iam.IGrantable) -> None:
        """Use of the tables' key, only through DynamoDB (for other tables encrypted with `key`)."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=list(TABLE_KEY_ACTIONS),
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
            )
        )

    def grant_table_actions(self, grantee: iam.IGrantable, actions: tuple[str, ...], resources: list[str]) -> None:
        """Exactly `actions` on `resources` (tables made by `create_table`, or their indexes), and the key."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=list(actions), resources=resources)
        )
        self.grant_table_key(grantee)


def _string_attribute(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)
