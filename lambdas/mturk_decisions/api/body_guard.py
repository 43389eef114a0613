"""What a request may carry before anything parses it: a JSON body Python can parse and every store can keep,
and a path with no control characters.

`parse_json` refuses, naming the field: bodies nested deeper than 64 levels (checked on the text, before
`json.loads` could recurse), integers of more than 4,300 digits (Python refuses to convert them), `NaN`,
`Infinity` and numbers too large for a double, and strings or keys holding an unpaired UTF-16 surrogate (the
JSON escape `\\ud800` without its other half: valid JSON, but not Unicode text, so no UTF-8 store can write it).

`problem(event)` applies it where the API's request enters (`handlers/api.py`), before Powertools parses the
body again; `refusal` answers a refused request with the routes' error body (`code`, `message`, details,
`requestId`). It also refuses, before Powertools could read them as forms: a POST or PUT body that is neither
JSON nor (POST /batches) CSV, `415 UNSUPPORTED_MEDIA_TYPE` (curl's `-d` sends form encoding); and a JSON body
holding U+FFFD, which is what API Gateway passes on for bytes that are not UTF-8, naming the byte.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from itertools import accumulate
from typing import Any

from mturk_decisions.api.http_errors import http_status
from mturk_decisions.domain import rules
from mturk_decisions.domain.errors import DecisionError, InvalidRequest, MalformedJson, UnsupportedMediaType

MAX_DEPTH = 64
MAX_INT_DIGITS = 4300
#: Top-level members whose domain rule names the problem better than a generic refusal.
FIELD_RULES: Mapping[str, Callable[[str], object]] = {
    "feedback": lambda value: rules.validate_feedback(value, required=False),
    "reason": rules.validate_reason,
}
#: A JSON string literal; an unterminated one runs to the end. Linear: the alternatives never overlap.
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
#: Every byte but the four brackets (ASCII: never part of a multi-byte UTF-8 sequence).
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256)]
_CHUNK = 65536
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
SEND_JSON = "Send the body as JSON with Content-Type: application/json (POST /batches also takes text/csv)."
_FORM_HINT = (" curl -d sends Content-Type: application/x-www-form-urlencoded unless told otherwise: add "
              "-H 'Content-Type: application/json'.")
#: What API Gateway (and local/gateway.py) put in place of bytes that are not UTF-8 in a text body.
REPLACEMENT = "\ufffd"
#: The path parameter that follows each collection segment of the API's routes.
_PATH_PARAMETERS = {"assignments": "assignmentId", "hits": "hitId", "hit-types": "hitTypeId", "batches": "batchId"}
_MAX_KEY_SHOWN = 64
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Text that may decode to an unpaired surrogate: a \uD800-\uDFFF escape (paired or not) or one as is.
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


class _Refused:
    """Stands in for a number `json.loads` met but the API refuses, so the walk can name its field."""

    def __init__(self, what: str) -> None:
        self.what = what


class _Key(str):
    """A path step that is the offending key itself, not the value under it."""


_CONTAINERS = (str, dict, list, _Refused)


class _Numbers:
    """`json.loads` hooks that put a `_Refused` where a number cannot be kept, and remember they did."""

    def __init__(self) -> None:
        self.refused = False

    def parse_int(self, digits: str) -> int | _Refused:
        if len(digits) - digits.startswith("-") <= MAX_INT_DIGITS:
            try:
                return int(digits)
            except ValueError:  # the interpreter's own limit (sys.set_int_max_str_digits) is lower
                pass
        return self._refuse(f"an integer of {len(digits) - digits.startswith('-')} digits; "
                            f"at most {MAX_INT_DIGITS} digits are accepted")

    def parse_float(self, text: str) -> float | _Refused:
        value = float(text)
        return value if math.isfinite(value) else self._refuse("a number too large to represent (it would be infinite)")

    def parse_constant(self, name: str) -> _Refused:
        return self._refuse(f"{name}, which JSON does not allow")

    def _refuse(self, what: str) -> _Refused:
        self.refused = True
        return _Refused(what)


def parse_json(raw: str | bytes, field_rules: Mapping[str, Callable[[str], object]] | None = None) -> object:
    """The parsed body, or a DecisionError naming the field: `InvalidRequest` for what Python cannot hold or
    no store can keep, `MalformedJson` for text that is not JSON. `field_rules` are called with a top-level
    string member that is not valid Unicode, to raise that member's own domain error (e.g. INVALID_FEEDBACK)."""
    text = _as_text(raw)
    check_depth(text)
    numbers = _Numbers()
    try:
        try:
            document = json.loads(text, parse_float=numbers.parse_float, parse_constant=numbers.parse_constant)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer beyond Python's digit limit: parse again, marking where it is
            document = json.loads(text, parse_int=numbers.parse_int, parse_float=numbers.parse_float,
                                  parse_constant=numbers.parse_constant)
    except json.JSONDecodeError as error:
        raise MalformedJson(f"The request body is not valid JSON: {error.msg} "
                            f"(line {error.lineno}, column {error.colno}).") from None
    except RecursionError:
        raise _too_deep() from None
    if numbers.refused or _MAYBE_SURROGATE.search(text):
        check_values(document, field_rules)
    return document


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON text nested more than `limit` levels (brackets inside string literals do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return
    skeleton = _STRING_LITERAL.sub("", text).encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET)
    depth = 0
    for start in range(0, len(skeleton), _CHUNK):
        depth_at = list(accumulate(map(_STEP.__getitem__, skeleton[start:start + _CHUNK]), initial=depth))
        if max(depth_at) > limit:
            raise _too_deep()
        depth = depth_at[-1]


def check_values(document: object, field_rules: Mapping[str, Callable[[str], object]] | None = None) -> None:
    """Refuse the first refused number, or string or key that is not valid Unicode, in document order."""
    steps = _first_problem(document)
    if steps is None:
        return
    steps.reverse()
    leaf, path = document, ""
    for step in steps:
        leaf = _step_into(leaf, step)
        path = f"{_name(path)}[{step}]" if isinstance(step, int) else f"{path}.{_shown(step)}" if path else _shown(step)
    path = _name(path)
    if isinstance(leaf, _Refused):
        raise InvalidRequest(f"{path} is {leaf.what}.", field=path)
    if not isinstance(leaf, str):  # _first_problem leads only to a refused number, or to text
        return
    rule = (field_rules or {}).get(steps[0]) if len(steps) == 1 and isinstance(steps[0], str) else None
    if rule is not None and not isinstance(steps[0], _Key):
        rule(leaf)
    _check_text(leaf, path, what="key" if steps and isinstance(steps[-1], _Key) else "value")


def _step_into(container: object, step: str | int) -> object:
    """The value `step` leads to: the key itself (a `_Key`), a member of an object, or an item of a list."""
    if isinstance(step, _Key):
        return step
    if isinstance(container, dict):
        return container[step]
    if isinstance(container, list) and isinstance(step, int):
        return container[step]
    raise TypeError(f"no step {step!r} into {type(container).__name__}")


def _first_problem(value: object) -> list[str | int] | None:
    """The steps (innermost first) to the first refused number or text that is not valid Unicode, or None."""
    if isinstance(value, str):
        return [] if _SURROGATE.search(value) else None
    if isinstance(value, _Refused):
        return []
    if isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                return [_Key(key)]
            found = _first_problem(item) if isinstance(item, _CONTAINERS) else None
            if found is not None:
                found.append(key)
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_problem(item) if isinstance(item, _CONTAINERS) else None
            if found is not None:
                found.append(index)
                return found
    return None


def problem(event: Mapping[str, Any]) -> DecisionError | None:
    """Why the request must be refused before any route reads it, or None.

    Bodies are screened when they will be read as JSON: no Content-Type or application/json, and anything
    but CSV on POST /batches. Text that is simply not JSON is left to the routes' own MALFORMED_JSON answers."""
    try:
        check_path(str(event.get("path") or ""))
        unsupported = _unsupported_media_type(event)
        if unsupported is not None:
            return unsupported
        text = _json_body_text(event)
        if text is not None:
            check_utf8(text, "JSON body")
            try:
                parse_json(text, FIELD_RULES)
            except MalformedJson:
                return None
    except DecisionError as error:
        return error
    return None


def _unsupported_media_type(event: Mapping[str, Any]) -> UnsupportedMediaType | None:
    """A POST or PUT body that is neither JSON nor (POST /batches) CSV, e.g. curl's default form encoding."""
    if str(event.get("httpMethod") or "").upper() not in ("POST", "PUT", "PATCH") or not event.get("body"):
        return None
    media_type = _media_type(event)
    if not media_type or media_type.startswith("application/json"):
        return None
    if _is_batch_upload(event) and media_type in CSV_TYPES:
        return None
    hint = _FORM_HINT if media_type == "application/x-www-form-urlencoded" else ""
    return UnsupportedMediaType(f"The body's Content-Type is {media_type}. {SEND_JSON}{hint}", mediaType=media_type)


def check_utf8(text: str, what: str) -> None:
    """Refuse text holding U+FFFD: bytes that were not UTF-8 when they reached API Gateway (it puts U+FFFD in
    their place), or U+FFFD itself. Names the byte offset of the first one, its line and column."""
    position = text.find(REPLACEMENT)
    if position < 0:
        return
    offset = len(text[:position].encode("utf-8", "surrogatepass"))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    raise MalformedJson(
        f"The {what} is not UTF-8 text: byte {offset} (line {line}, column {column}) is not UTF-8, or is U+FFFD "
        "itself (the replacement character, which the API refuses: API Gateway puts it in place of bytes that are "
        "not UTF-8). Send the body encoded as UTF-8; write an intended U+FFFD as the JSON escape \\ufffd.",
        field="body", byteOffset=offset, line=line, column=column)


def check_path(path: str) -> None:
    """Refuse control characters (e.g. `%0A`) and unpaired surrogates in the path, naming the path parameter."""
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if _CONTROL.search(segment) or rules.lone_surrogate_at(segment) is not None:
            field = _PATH_PARAMETERS.get(segments[index - 1], "path") if index else "path"
            raise InvalidRequest(f"The path parameter {field} holds a control character or is not valid Unicode "
                                 "(e.g. a trailing %0A); MTurk ids are 1-64 of A-Z and 0-9.", field=field)


def refusal(error: DecisionError, request_id: str | None) -> dict[str, Any]:
    """The proxy response of a refused request, shaped as the routes' `error_response`."""
    body = error.to_body()
    body.setdefault("requestId", request_id)
    return {"statusCode": http_status(error), "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body), "isBase64Encoded": False}


def _media_type(event: Mapping[str, Any]) -> str:
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    return str(headers.get("content-type") or "").split(";")[0].strip().lower()


def _is_batch_upload(event: Mapping[str, Any]) -> bool:
    return str(event.get("path") or "").rstrip("/").endswith("/batches")


def _json_body_text(event: Mapping[str, Any]) -> str | None:
    body = event.get("body")
    if not body:
        return None
    media_type = _media_type(event)
    if media_type and not media_type.startswith("application/json") and not (
            _is_batch_upload(event) and media_type not in CSV_TYPES):
        return None
    if not event.get("isBase64Encoded"):
        return body if isinstance(body, str) else _as_text(body)
    try:
        return _as_text(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError):
        raise MalformedJson("The request body is marked base64 but is not valid base64.") from None


def text_of(raw: str | bytes) -> str:
    """A JSON body as text: bytes must be UTF-8 (MALFORMED_JSON naming the first byte that is not)."""
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedJson(f"The request body is not UTF-8 (byte {error.start} cannot be decoded).",
                            field="body", byteOffset=error.start) from None


_as_text = text_of


def _check_text(text: str, path: str, what: str = "value") -> None:
    position = rules.lone_surrogate_at(text)
    if position is not None:
        name = _name(path)
        raise InvalidRequest(
            f"The {what} at {name} is not valid Unicode text: it holds the unpaired surrogate "
            f"U+{ord(text[position]):04X} at position {position} (a JSON \\uD800-style escape without its other "
            "half). Send the character itself, or both halves of its surrogate pair.",
            field=name, position=position)


def _too_deep() -> InvalidRequest:
    return InvalidRequest(f"The JSON body is nested more than {MAX_DEPTH} levels deep; at most {MAX_DEPTH} "
                          "levels of objects and lists are accepted.", field="body")


def _name(path: str) -> str:
    return path or "body"


def _shown(key: str) -> str:
    """A key as it can appear in an answer or a log: unpaired surrogates escaped, at most 64 characters."""
    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown if len(shown) <= _MAX_KEY_SHOWN else shown[:_MAX_KEY_SHOWN] + "..."
