"""PynamoDB models: a static base class per table, bound to a table at run time by a subclass.

The base class (`AuditRecord`, `BatchEntry`, ...) declares every attribute and index, so editors and mypy
see them; `bound(Base, table, region, host)` makes a subclass that only sets `Meta`. A fresh class per table
binding keeps PynamoDB's per-model connection cache (`Model._connection`, set on the class) from leaking
between tables, regions or endpoints: tests and the local stack bind the same model to several at once.

Indexes are declared as instances on the base: PynamoDB 6.1's `MetaModel._initialize_indexes` gives every
class a deep copy of each index bound to that class (`index._model = cls`), so each bound subclass queries
through its own table (tests/unit/test_dynamo_models.py checks it).
"""
from __future__ import annotations

from typing import Any, Generic, Self, TypeVar, cast

from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.models import Model

ModelT = TypeVar("ModelT", bound=Model)


def bound(base: type[ModelT], table_name: str, region: str | None, host: str | None) -> type[ModelT]:
    """A subclass of `base` bound to one table (its `Meta`), with its own connection and index copies."""
    meta = type("Meta", (), {"table_name": table_name, "region": region, "host": host})
    return cast(type[ModelT], type(base.__name__, (base,), {"Meta": meta, "__module__": base.__module__}))


class TableIndex(GlobalSecondaryIndex[ModelT]):  # type: ignore[no-untyped-call]  # PynamoDB's __init_subclass__ is unannotated
    """A global secondary index of one of the models (a subclass declares its `Meta` and key attributes)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # type: ignore[no-untyped-call]  # (the same, unannotated upstream)


class ModelStore(Generic[ModelT]):
    """A store over one bound model; a subclass names how to bind it (`bind`)."""

    def __init__(self, model: type[ModelT]) -> None:
        self._model = model

    @classmethod
    def bind(cls, table_name: str, region: str | None, host: str | None) -> type[ModelT]:
        raise NotImplementedError

    @classmethod
    def for_table(cls, table_name: str, region: str | None = None, host: str | None = None) -> Self:
        return cls(cls.bind(table_name, region, host))

    @property
    def model(self) -> type[ModelT]:
        return self._model
