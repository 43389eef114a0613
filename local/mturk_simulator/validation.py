"""Request validation driven by botocore's MTurk service model.

Constraints (required, type, min/max, pattern, enum, unknown members) are read
from the model, so they follow botocore rather than a hand-kept copy. Messages
follow AWS's ``ValidationException`` wording, with member paths in lowerCamelCase
(``HITId`` -> ``hITId``) and list elements as ``<list>.<n>.member``.

A string holding an unpaired UTF-16 surrogate (the JSON escape ``\\ud800`` without its other half: valid
JSON, but not Unicode text) violates "Member must be valid Unicode text", for every string member of every
operation; values and member names are shown in messages with such surrogates escaped.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from .errors import validation_error
from .text import lone_surrogate_at, printable


@functools.lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("mturk")


@functools.cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _member_path(parent: str, name: str) -> str:
    member = name[:1].lower() + name[1:]
    return f"{parent}.{member}" if parent else member


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    return str(value)


def _violation(value: Any, path: str, constraint: str) -> str:
    rendered = "null" if value is None else f"'{_render(value)}'"
    return printable(f"Value {rendered} at '{path}' failed to satisfy constraint: {constraint}")


def _unicode_violation(text: str) -> str | None:
    position = lone_surrogate_at(text)
    if position is None:
        return None
    return (f"Member must be valid Unicode text (it holds the unpaired surrogate U+{ord(text[position]):04X} "
            f"at position {position})")


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "blob": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "timestamp": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "structure": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "map": lambda v: isinstance(v, dict),
}


def _scalar_constraints(shape: Shape, value: Any) -> list[str]:
    """Constraint texts violated by a scalar (its type already checked)."""
    meta = shape.metadata
    found = []
    if shape.type_name in ("string", "blob") and (invalid := _unicode_violation(value)):
        found.append(invalid)
    if shape.type_name in ("string", "blob", "list", "map"):
        if "min" in meta and len(value) < meta["min"]:
            found.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            found.append(f"Member must have length less than or equal to {meta['max']}")
    elif shape.type_name in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            found.append(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            found.append(f"Member must have value less than or equal to {meta['max']}")
    if shape.type_name == "string":
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            found.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = meta.get("pattern")
        regex = _regex(pattern) if pattern else None
        if regex is not None and not regex.fullmatch(value):
            found.append(f"Member must satisfy regular expression pattern: {pattern}")
    return found


def _validate(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    kind = shape.type_name
    if not _TYPE_CHECKS.get(kind, lambda v: True)(value):
        out.append(_violation(value, path, f"Member must be of type {kind}"))
        return
    if kind == "structure":
        for name in sorted(value.keys() - shape.members.keys()):
            out.append(_violation(value[name], _member_path(path, name), "Member is not defined in the input shape"))
        for name, member in shape.members.items():
            member_value = value.get(name)
            if member_value is None:
                if name in shape.required_members:
                    out.append(_violation(None, _member_path(path, name), "Member must not be null"))
                continue
            _validate(member, member_value, _member_path(path, name), out)
        return
    out.extend(_violation(value, path, c) for c in _scalar_constraints(shape, value))
    if kind == "list":
        _validate_list_members(shape.member, value, path, out)
    elif kind == "map":
        for key, item in value.items():
            if isinstance(key, str) and (invalid := _unicode_violation(key)):
                out.append(_violation(key, f"{path}.{key}", invalid))
            _validate(shape.value, item, f"{path}.{key}.member", out)


def _validate_list_members(member: Shape, items: list[Any], path: str, out: list[str]) -> None:
    if member.type_name in ("structure", "list", "map"):
        for index, item in enumerate(items, start=1):
            _validate(member, item, f"{path}.{index}.member", out)
        return
    inner = []
    for item in items:
        if not _TYPE_CHECKS.get(member.type_name, lambda v: True)(item):
            inner.append(f"Member must be of type {member.type_name}")
        else:
            inner.extend(_scalar_constraints(member, item))
    for constraint in dict.fromkeys(inner):
        out.append(_violation(items, path, f"Member must satisfy constraint: [{constraint}]"))


def validate_input(operation: OperationModel, params: dict[str, Any]) -> None:
    """Raise a ``ValidationException`` ApiError listing every violated constraint."""
    violations: list[str] = []
    if operation.input_shape is not None:
        _validate(operation.input_shape, params, "", violations)
    elif params:
        violations.extend(_violation(v, _member_path("", k), "Member is not defined in the input shape") for k, v in params.items())
    if violations:
        raise validation_error(violations)
