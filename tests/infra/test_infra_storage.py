"""Audit table, idempotency table, KMS keys and the MTurk secret."""

from __future__ import annotations

import json
import re


def test_audit_table_is_durable_encrypted_and_retained(synth):
    # Given the audit table
    table = synth.resource(synth.stack.audit_store.audit_table)
    props = table["Properties"]
    # Then it is on-demand, PITR-protected, deletion-protected and retained with the stack
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    # And encrypted with the stack's customer-managed key
    key_id = synth.logical_id(synth.stack.audit_store.key)
    assert props["SSESpecification"] == {
        "KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
        "SSEEnabled": True,
        "SSEType": "KMS",
    }


def test_audit_table_keys_and_indexes_match_the_pynamodb_model(synth):
    # Given the audit table
    props = synth.resource(synth.stack.audit_store.audit_table)["Properties"]
    # Then its key is (assignment_id, decision_key) ...
    assert props["KeySchema"] == [
        {"AttributeName": "assignment_id", "KeyType": "HASH"},
        {"AttributeName": "decision_key", "KeyType": "RANGE"},
    ]
    # ... and it has the four GSIs, all sorted by decision_key, projecting ALL
    indexes = {gsi["IndexName"]: gsi for gsi in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by-worker", "by-hit", "by-pending", "by-day"}
    for name, partition_key in (("by-worker", "worker_id"), ("by-hit", "hit_id"), ("by-pending", "pending"),
                                ("by-day", "day")):
        assert indexes[name]["KeySchema"] == [
            {"AttributeName": partition_key, "KeyType": "HASH"},
            {"AttributeName": "decision_key", "KeyType": "RANGE"},
        ]
        assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
    attributes = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert attributes == dict.fromkeys(("assignment_id", "decision_key", "worker_id", "hit_id", "pending", "day"), "S")


def test_idempotency_table_matches_powertools_defaults(synth):
    # Given the idempotency table
    table = synth.resource(synth.stack.audit_store.idempotency_table)
    props = table["Properties"]
    # Then it uses Powertools' defaults: key `id`, TTL on `expiration`
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    # And it is on-demand, encrypted with the CMK, PITR on, and disposable with the stack
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionPolicy"] == "Delete"


def test_every_kms_key_rotates_and_the_data_key_is_retained(synth):
    # Given the KMS keys (data, secret, alarm topic)
    keys = synth.resources("AWS::KMS::Key")
    assert len(keys) == 3
    # Then all rotate
    for logical_id, key in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True, logical_id
    # And the key of the retained audit table is retained too
    data_key = synth.resource(synth.stack.audit_store.key)
    assert data_key["DeletionPolicy"] == "Retain"


def test_secret_is_created_without_any_value_and_with_a_cmk(synth):
    # Given the MTurk credentials secret
    _, secret = synth.only("AWS::SecretsManager::Secret")
    props = secret["Properties"]
    # Then the template carries no value and no generated placeholder
    assert "SecretString" not in props
    assert "GenerateSecretString" not in props
    # And it is encrypted with its own customer-managed key
    key_id = synth.logical_id(synth.stack.secret.key)
    assert props["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    # And nothing in the whole template looks like an AWS access key
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", json.dumps(synth.json))
