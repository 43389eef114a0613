"""The static PynamoDB models and their per-table binding (adapters/dynamo.py)."""
from __future__ import annotations

import inspect

import pytest
from pynamodb.indexes import Index

from mturk_decisions.adapters.audit_store import AuditRecord, audit_model
from mturk_decisions.adapters.batch_store import BatchEntry, batch_model, counter_name
from mturk_decisions.adapters.schedule_store import schedule_model
from mturk_decisions.domain.batch import ItemStatus


@pytest.mark.parametrize("factory", [audit_model, batch_model, schedule_model], ids=["audit", "batch", "schedule"])
def test_each_binding_queries_its_indexes_through_its_own_table(factory):
    # Given one model bound to two tables on two endpoints
    first = factory("first-table", "us-east-1", "http://first:5000")
    second = factory("second-table", "eu-west-1", "http://second:5000")
    # When the index of each binding is looked at
    names = [name for name, _ in inspect.getmembers(first, lambda member: isinstance(member, Index))]
    pairs = [(getattr(first, name), getattr(second, name)) for name in names]
    # Then each binding has its own copy of every index, bound to itself (PynamoDB 6.1 copies them per class)
    assert len(pairs) == len(first._indexes) > 0
    for mine, theirs in pairs:
        assert mine is not theirs
        assert mine._model is first and theirs._model is second
    # And each its own table, region and endpoint
    assert (first.Meta.table_name, first.Meta.host) == ("first-table", "http://first:5000")
    assert (second.Meta.table_name, second.Meta.region) == ("second-table", "eu-west-1")


def test_a_binding_is_the_static_model_with_every_attribute():
    # Given the audit model bound to a table
    model = audit_model("audit-table", "us-east-1", None)
    # Then it is a subclass of the static model, with the same attributes and keys
    assert issubclass(model, AuditRecord)
    assert model.get_attributes().keys() == AuditRecord.get_attributes().keys()
    assert (model._hash_keyname, model._range_keyname) == ("assignment_id", "decision_key")
    # And a record of one binding is not found as another's (each its own DoesNotExist)
    assert model.DoesNotExist is not audit_model("other", "us-east-1", None).DoesNotExist


def test_the_batch_model_declares_a_counter_for_every_item_status():
    # Given the statuses an item can be in
    statuses = list(ItemStatus)
    # When / Then META has a counter attribute for each
    assert all(counter_name(status) in BatchEntry.get_attributes() for status in statuses)
