"""Server-side AWS Signature Version 4 verification (header auth).

The signature is recomputed with botocore's own ``SigV4Auth`` so that whatever a
real AWS client (boto3, ``requests`` + ``botocore.auth.SigV4Auth``) signs, we
canonicalise identically. Errors carry the codes and texts real AWS endpoints
answer with, so clients parse them as they would in production.

``path`` and ``query`` must be the raw request target parts exactly as received
on the wire (still percent-encoded); both are canonicalised the way botocore
does when signing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=15)
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_HEX_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Caller:
    access_key_id: str
    region: str
    service: str


class SigV4Error(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _incomplete(message: str) -> SigV4Error:
    return SigV4Error(400, "IncompleteSignatureException", message)


def _invalid(message: str = _SIGNATURE_MISMATCH) -> SigV4Error:
    return SigV4Error(400, "InvalidSignatureException", message)


class _SignedHeadersOnly(SigV4Auth):
    """SigV4Auth that signs exactly the headers the client listed in SignedHeaders.

    botocore's default selection skips some headers (e.g. user-agent); a client
    other than botocore may have signed them, and the server must honour its list.
    """

    def __init__(self, credentials, service, region, signed_names: list[str]):
        super().__init__(credentials, service, region)
        self._signed_names = signed_names

    def headers_to_sign(self, request):
        selected = HTTPHeaders()
        for name in self._signed_names:
            for value in request.headers.get_all(name) or []:
                selected[name] = value
        return selected


class Headers(Protocol):
    """A request's headers: a mapping, or http.server's ``email.message.Message`` (which may repeat a name)."""

    def items(self) -> Iterable[tuple[str, str]]: ...


def _header_lists(headers: Headers) -> dict[str, list[str]]:
    """Lower-cased names to values; ``email.message.Message`` headers may repeat a name."""
    lists: dict[str, list[str]] = {}
    for name, value in headers.items():
        lists.setdefault(name.lower(), []).append(value)
    return lists


def _parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise _incomplete(f"Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is supported.")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    missing = [f"Authorization header requires '{k}' parameter."
               for k in ("Credential", "Signature", "SignedHeaders") if not parts.get(k)]
    if missing:
        raise _incomplete(" ".join(missing) + f" Authorization={value}")
    return parts


def _check_skew(amz_date: str, request_time: datetime, now: datetime) -> None:
    earliest, latest = now - MAX_CLOCK_SKEW, now + MAX_CLOCK_SKEW

    def fmt(moment: datetime) -> str:
        return moment.strftime(AMZ_DATE_FORMAT)

    if request_time < earliest:
        raise _invalid(f"Signature expired: {amz_date} is now earlier than {fmt(earliest)} ({fmt(now)} - 15 min.)")
    if request_time > latest:
        raise _invalid(f"Signature not yet current: {amz_date} is still later than {fmt(latest)} ({fmt(now)} + 15 min.)")


def _credential_scope(parts: dict[str, str]) -> tuple[str, str, str, str, list[str]]:
    """(access key id, scope date, region, service, signed header names) of a parsed Authorization header."""
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise _incomplete(
            "Credential should be of the form '<AccessKeyId>/<yyyyMMdd>/<region>/<service>/aws4_request'. "
            f"Got '{parts['Credential']}'."
        )
    access_key_id, scope_date, region, service, _ = scope
    signed_names = parts["SignedHeaders"].lower().split(";")
    if "host" not in signed_names:
        raise _incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return access_key_id, scope_date, region, service, signed_names


def _checked_date(amz_date: str | None, scope_date: str, now: datetime | None) -> str:
    """The request's X-Amz-Date, checked against the credential scope and the clock (15 minutes either way)."""
    if not amz_date:
        raise _incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    try:
        request_time = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.") from None
    if scope_date != amz_date[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    _check_skew(amz_date, request_time, now)
    return amz_date


def verify_sigv4(
    method: str,
    path: str,
    query: str,
    headers: Headers,
    body: bytes,
    secret_for: Callable[[str], str | None],
    now: datetime | None = None,
) -> Caller:
    """Verify a SigV4 ``Authorization`` header; return the caller or raise ``SigV4Error``.

    ``secret_for(access_key_id)`` returns the secret key, or None for an unknown key.
    ``now`` (wall-clock, for the 15-minute skew check) defaults to the current UTC time.
    """
    values = _header_lists(headers)

    def first(name: str) -> str | None:
        found = values.get(name)
        return found[0] if found else None

    authorization = first("authorization")
    if not authorization:
        raise SigV4Error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    parts = _parse_authorization(authorization)
    access_key_id, scope_date, region, service, signed_names = _credential_scope(parts)
    secret = secret_for(access_key_id)
    if secret is None:
        raise SigV4Error(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    amz_date = _checked_date(first("x-amz-date"), scope_date, now)

    if any(name not in values for name in signed_names):
        raise _invalid()
    content_sha = first("x-amz-content-sha256")
    if content_sha and _HEX_SHA256.match(content_sha) and content_sha != hashlib.sha256(body).hexdigest():
        raise _invalid()

    signed_headers = HTTPHeaders()
    for name in signed_names:
        for value in values[name]:
            signed_headers[name] = value
    url = f"http://{first('host')}{path or '/'}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method.upper(), url=url, data=body, headers=signed_headers)
    request.context["timestamp"] = amz_date
    signer = _SignedHeadersOnly(Credentials(access_key_id, secret), service, region, signed_names)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, parts["Signature"]):
        raise _invalid()
    return Caller(access_key_id=access_key_id, region=region, service=service)
