"""The Secrets Manager secret that holds the requester's MTurk access key pair.

The template never carries a value: the secret is created EMPTY (no `SecretString`,
no `GenerateSecretString`; CloudFormation then creates a secret without any version)
and the requester stores the keys afterwards:

    aws secretsmanager put-secret-value --secret-id <MTurkSecretArn output> \
        --secret-string '{"accessKeyId":"AKIA...","secretAccessKey":"..."}'

Until then `GetSecretValue` fails with ResourceNotFoundException (no AWSCURRENT
version), which the API reports as a configuration error instead of calling MTurk
with placeholder credentials.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge

SECRET_JSON_KEYS = ("accessKeyId", "secretAccessKey")


class MTurkSecret(Construct):
    """CMK-encrypted, value-less secret + a least-privilege read grant."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)

        self.key = kms.Key(
            self,
            "SecretKey",
            description="mturk-decisions: encrypts the MTurk requester credentials secret",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            # Matches the secret's maximum recovery window: a deleted secret stays restorable.
            pending_window=Duration.days(30),
        )
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description=(
                "MTurk requester access key pair for mturk-decisions, JSON "
                '{"accessKeyId": "...", "secretAccessKey": "..."}. Created empty; '
                "set it with `aws secretsmanager put-secret-value`."
            ),
            encryption_key=self.key,
        )
        # The L2 always renders `GenerateSecretString: {}` (a random placeholder value);
        # drop it so the secret is created without any value at all.
        cfn_secret = self.secret.node.default_child
        assert isinstance(cfn_secret, secretsmanager.CfnSecret)
        cfn_secret.add_property_deletion_override("GenerateSecretString")

        acknowledge(
            self.secret,
            "SMG4",
            "The secret holds the access key pair of the requester's own MTurk-linked IAM user, "
            "which only the requester can create in their account; rotation is done by the "
            "requester (create a second access key, put-secret-value, wait SECRET_MAX_AGE_SECONDS, "
            "deactivate and delete the old key), not by a rotation Lambda.",
        )

    @property
    def secret_arn(self) -> str:
        return self.secret.secret_arn

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """`secretsmanager:GetSecretValue` on this secret, and decrypt through Secrets Manager only."""
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(actions=["secretsmanager:GetSecretValue"], resources=[self.secret.secret_arn])
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}},
            )
        )
