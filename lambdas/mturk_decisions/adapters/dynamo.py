"""PynamoDB models bound to a table at run time, and the stores built on them.

A fresh Model class per table binding keeps PynamoDB's per-model connection cache from leaking between
tables, regions or endpoints (tests, the local stack, AWS).
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from pynamodb.attributes import UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

StoreT = TypeVar("StoreT", bound="ModelStore")


def bound_model(class_name: str, table_name: str, region: str | None, host: str | None,
                attributes: dict[str, Any]) -> type[Model]:
    meta = type("Meta", (), {"table_name": table_name, "region": region, "host": host})
    return type(class_name, (Model,), {"Meta": meta, **attributes})


def string_index(name: str, hash_attr: str, range_attr: str) -> GlobalSecondaryIndex:
    """A global secondary index on two string attributes, projecting everything."""
    meta = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    attributes = {"Meta": meta, hash_attr: UnicodeAttribute(hash_key=True),
                  range_attr: UnicodeAttribute(range_key=True)}
    return type(f"Index_{name.replace('-', '_')}", (GlobalSecondaryIndex,), attributes)()


class ModelStore:
    """A store over one bound model; a subclass names the factory that binds it (`staticmethod`)."""

    model_factory: Callable[[str, str | None, str | None], type[Model]]

    def __init__(self, model: type[Model]) -> None:
        self._model = model

    @classmethod
    def for_table(cls: type[StoreT], table_name: str, region: str | None = None, host: str | None = None) -> StoreT:
        return cls(cls.model_factory(table_name, region, host))

    @property
    def model(self) -> type[Model]:
        return self._model
