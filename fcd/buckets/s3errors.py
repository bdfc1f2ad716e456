"""S3's errors: a code, its HTTP status, and the XML body clients parse.

The S3 API is a second protocol beside FC's, with its own error format
(``<Error><Code>…</Code><Message>…</Message>…</Error>``) that boto3, the aws CLI and the MinIO
client read; these errors never leave :mod:`fcd.buckets` as FC JSON.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

# The status S3 answers each code with (S3 API reference, "Error responses").
STATUS = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedXML": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "RequestTimeTooSkewed": 403,
    "SignatureDoesNotMatch": 403,
    "XAmzContentSHA256Mismatch": 400,
}


class S3Error(Exception):
    """A client-visible S3 error; ``resource`` is the bucket, key or upload it concerns."""

    def __init__(self, code: str, message: str, resource: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.resource = resource
        self.status = STATUS.get(code, 400)

    @classmethod
    def of(cls, code: str, message: str, resource: str = "") -> S3Error:
        return cls(code, message, resource)

    def __repr__(self) -> str:
        return f"<S3Error {self.status} {self.code}: {self.message}>"

    def body(self, request_id: str) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            f"<Resource>{escape(self.resource)}</Resource><RequestId>{request_id}</RequestId>"
            "</Error>"
        ).encode()
