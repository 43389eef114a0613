"""The upload bucket (S3): a presigned PUT URL for the requester's CSV, and the CSV read back as a stream.

The API presigns (no S3 call: the URL carries the API role's signature, so S3 authorizes the PUT as the
API's `s3:PutObject` on `uploads/*`); the parser reads the object (`s3:GetObject`), twice: once to validate
it and once, pinned to the same version by its ETag (`IfMatch`), to store it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Regional virtual-hosted URLs (`https://BUCKET.s3.REGION.amazonaws.com/...`): a global-endpoint URL for a
#: bucket outside us-east-1 can be redirected, which breaks its signature. Path style with a local endpoint.
S3_CONFIG = {"signature_version": "s3v4", "s3": {"addressing_style": "virtual"}}


class UploadMissing(Exception):
    """The object is not (or no longer) there."""


class UploadChanged(Exception):
    """The object was replaced between two reads (another PUT to the same URL)."""


@dataclass
class UploadObject:
    """An object being read: `read(n)` streams its body; nothing is held beyond what `read` returns."""

    read: Callable[[int], bytes]
    size: int
    etag: str
    content_type: str
    close: Callable[[], None]


class S3Uploads:
    def __init__(self, bucket: str, client: Callable[[], Any]) -> None:
        """`client`: makes the S3 client on first use (most invocations never touch S3)."""
        self.bucket = bucket
        self._make_client, self._client = client, None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def presign_put(self, key: str, content_type: str, expires_in: int) -> str:
        """A URL that PUTs `key` with exactly this Content-Type (it is signed), valid `expires_in` seconds."""
        url: str = self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_in, HttpMethod="PUT")
        return url

    def open(self, key: str, if_match: str | None = None) -> UploadObject:
        from botocore.exceptions import ClientError

        params = {"Bucket": self.bucket, "Key": key, **({"IfMatch": if_match} if if_match else {})}
        try:
            answer = self.client.get_object(**params)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise UploadMissing(key) from None
            if code in ("PreconditionFailed", "412"):
                raise UploadChanged(key) from None
            raise
        body = answer["Body"]
        return UploadObject(body.read, int(answer.get("ContentLength") or 0), answer.get("ETag", ""),
                            (answer.get("ContentType") or "").split(";")[0].strip().lower(), body.close)


def s3_client(session: Any) -> Any:
    from botocore.config import Config

    return session.client("s3", config=Config(**S3_CONFIG))
