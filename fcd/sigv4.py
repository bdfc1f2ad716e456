"""AWS Signature Version 4 for the S3 API of the bucket store: pure functions, no I/O.

fcd's bucket store (:mod:`fcd.buckets`) accepts requests signed the way boto3, the aws CLI and
the MinIO client sign them, with fcd's own access keys (the key id and secret that sign FC
requests). :func:`verify` checks a header-signed or a pre-signed (query) request and returns the
access key id; :func:`sign_headers` signs a request (used by ``fcctl bucket``);
:class:`ChunkDecoder` undoes ``aws-chunked`` bodies (``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, which
the MinIO client sends over plain HTTP, and the unsigned-with-trailer variant) and checks each
chunk's signature as it arrives.

The region in the credential scope is the client's choice (boto3 defaults to ``us-east-1``): the
signature is computed with whatever region the client signed, the service must be ``s3``.

The canonical forms follow AWS's published description ("Create a canonical request for
Signature Version 4"): URI-encode every byte except ``A-Za-z0-9-._~`` (and ``/`` in the path),
sort the query by name then value, lower-case and trim the signed headers.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING = frozenset({STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# S3 refuses requests whose x-amz-date is more than 15 minutes from the server's clock.
MAX_CLOCK_SKEW_SECONDS = 15 * 60
# Pre-signed URLs live at most 7 days (X-Amz-Expires ≤ 604800).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

Query = Sequence[tuple[str, str]]


class SigV4Error(Exception):
    """A request that fails authentication; ``code`` is the S3 error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Credential:
    """The ``Credential=`` part: ``<key id>/<yyyymmdd>/<region>/s3/aws4_request``."""

    key_id: str
    date: str
    region: str
    service: str = SERVICE

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"

    @classmethod
    def parse(cls, text: str) -> Credential:
        """Raises: SigV4Error (AuthorizationHeaderMalformed) for a malformed scope."""
        parts = text.split("/")
        if len(parts) != 5 or parts[4] != TERMINATOR or not parts[0] or len(parts[1]) != 8:
            raise SigV4Error(
                "AuthorizationHeaderMalformed",
                f"the credential '{text}' is not '<key>/<yyyymmdd>/<region>/s3/aws4_request'",
            )
        if parts[3] != SERVICE:
            raise SigV4Error(
                "AuthorizationHeaderMalformed",
                f"the credential is for service '{parts[3]}', not s3",
            )
        return cls(parts[0], parts[1], parts[2], parts[3])


@dataclass(frozen=True)
class Signed:
    """What a verified request was signed with: chunked bodies need the seed and the scope."""

    key_id: str
    signature: str
    amz_date: str
    credential: Credential
    signing_key: bytes = field(repr=False)
    payload_hash: str


# Canonical forms --------------------------------------------------------------------------------
def uri_encode(text: str, *, keep_slash: bool) -> str:
    """AWS's URI encoding: every byte but ``A-Za-z0-9-._~`` (and ``/`` for paths) as ``%XX``."""
    return quote(text.encode("utf-8"), safe="/~" if keep_slash else "~")


def canonical_query(query: Query) -> str:
    pairs = sorted(
        (uri_encode(k, keep_slash=False), uri_encode(v, keep_slash=False)) for k, v in query
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


_SPACES = re.compile(r"\s+")


def canonical_headers(headers: Mapping[str, str], signed: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header (lower-case names, trimmed, spaces collapsed)."""
    return "".join(f"{name}:{_SPACES.sub(' ', headers.get(name, '').strip())}\n" for name in signed)


def canonical_request(
    method: str,
    path: str,
    query: Query,
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The canonical request; ``path`` is already URI-encoded, ``headers`` have lower-case names."""
    return "\n".join(
        [
            method.upper(),
            path or "/",
            canonical_query(query),
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret: str, credential: Credential) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), credential.date)
    for part in (credential.region, credential.service, TERMINATOR):
        key = _hmac(key, part)
    return key


def signature(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def amz_date(epoch: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(epoch))


def parse_amz_date(text: str) -> float:
    """Raises: SigV4Error (AccessDenied) when ``text`` is not ``yyyymmddThhmmssZ``."""
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise SigV4Error("AccessDenied", f"X-Amz-Date '{text}' is not yyyymmddThhmmssZ") from None


# Signing (the client side) --------------------------------------------------------------------
def sign_headers(
    *,
    method: str,
    path: str,
    query: Query,
    headers: Mapping[str, str],
    payload_hash: str,
    key_id: str,
    secret: str,
    region: str,
    now: float,
) -> dict[str, str]:
    """The headers to add to a request so that it verifies: ``x-amz-date``,
    ``x-amz-content-sha256`` and ``authorization``. ``path`` is the decoded path; ``headers``
    must hold ``host`` (lower-case names)."""
    date = amz_date(now)
    all_headers = {k.lower(): v for k, v in headers.items()}
    all_headers["x-amz-date"] = date
    all_headers["x-amz-content-sha256"] = payload_hash
    signed = sorted(all_headers)
    credential = Credential(key_id, date[:8], region)
    canonical = canonical_request(
        method, uri_encode(path, keep_slash=True), query, all_headers, signed, payload_hash
    )
    sig = signature(
        signing_key(secret, credential), string_to_sign(date, credential.scope, canonical)
    )
    return {
        "x-amz-date": date,
        "x-amz-content-sha256": payload_hash,
        "authorization": (
            f"{ALGORITHM} Credential={key_id}/{credential.scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={sig}"
        ),
    }


# Verification (the server side) ---------------------------------------------------------------
def parse_authorization(value: str) -> tuple[Credential, list[str], str]:
    """Split ``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``.

    Raises:
        SigV4Error: AuthorizationHeaderMalformed, or InvalidRequest for another algorithm.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Error(
            "InvalidRequest",
            f"the authorization mechanism '{algorithm}' is not supported; use {ALGORITHM}",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, text = part.strip().partition("=")
        if sep:
            fields[name] = text
    try:
        credential = Credential.parse(fields["Credential"])
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except KeyError as e:
        raise SigV4Error(
            "AuthorizationHeaderMalformed", f"the Authorization header has no {e.args[0]}"
        ) from None
    return credential, signed, sig


def verify(
    *,
    method: str,
    raw_path: str,
    query: Query,
    headers: Mapping[str, str],
    secret_for: Callable[[str], str | None],
    now: float,
) -> Signed:
    """Check a SigV4-signed request (by header or pre-signed query) and its freshness.

    ``raw_path`` is the path as received (percent-encoded), ``query`` the decoded query pairs in
    order, ``headers`` lower-case names; ``secret_for`` maps a key id to its secret (None when
    unknown): fcd's own access keys.

    Raises:
        SigV4Error: AccessDenied (no signature, expired), AuthorizationHeaderMalformed,
            InvalidAccessKeyId, RequestTimeTooSkewed, SignatureDoesNotMatch.
    """
    presigned = any(k == "X-Amz-Signature" for k, _ in query)
    if "authorization" in headers:
        credential, signed_headers, given = parse_authorization(headers["authorization"])
        date = headers.get("x-amz-date") or ""
        if not date:
            raise SigV4Error("AccessDenied", "AWS authentication requires an x-amz-date header")
        when = parse_amz_date(date)
        if abs(now - when) > MAX_CLOCK_SKEW_SECONDS:
            raise SigV4Error(
                "RequestTimeTooSkewed",
                "the difference between the request time and the server's time is too large",
            )
        payload_hash = headers.get("x-amz-content-sha256") or UNSIGNED_PAYLOAD
        signed_query = list(query)
    elif presigned:
        values = dict(query)
        if values.get("X-Amz-Algorithm") != ALGORITHM:
            raise SigV4Error(
                "AuthorizationQueryParametersError", f"X-Amz-Algorithm must be {ALGORITHM}"
            )
        credential = Credential.parse(values.get("X-Amz-Credential", ""))
        date = values.get("X-Amz-Date", "")
        when = parse_amz_date(date)
        expires = values.get("X-Amz-Expires", "")
        if not expires.isdigit() or int(expires) > MAX_PRESIGN_SECONDS:
            raise SigV4Error(
                "AuthorizationQueryParametersError", "X-Amz-Expires must be 1..604800 seconds"
            )
        if now > when + int(expires):
            raise SigV4Error("AccessDenied", "Request has expired")
        signed_headers = values.get("X-Amz-SignedHeaders", "host").split(";")
        given = values["X-Amz-Signature"]
        payload_hash = UNSIGNED_PAYLOAD
        signed_query = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    else:
        raise SigV4Error("AccessDenied", "Access Denied: the request is not signed")
    if date[:8] != credential.date:
        raise SigV4Error(
            "SignatureDoesNotMatch", "the credential date does not match the request date"
        )
    secret = secret_for(credential.key_id)
    if secret is None:
        raise SigV4Error(
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    key = signing_key(secret, credential)
    for path in dict.fromkeys((uri_encode(unquote(raw_path), keep_slash=True), raw_path)):
        canonical = canonical_request(
            method, path, signed_query, headers, signed_headers, payload_hash
        )
        expected = signature(key, string_to_sign(date, credential.scope, canonical))
        if hmac.compare_digest(expected, given):
            return Signed(credential.key_id, given, date, credential, key, payload_hash)
    raise SigV4Error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


# aws-chunked bodies ---------------------------------------------------------------------------
# A chunk header is at most "<hex size>;chunk-signature=<64 hex>\r\n"; anything longer is garbage.
MAX_CHUNK_HEADER = 4096


class ChunkDecoder:
    """Incremental decoder of an ``aws-chunked`` body: :meth:`feed` bytes, get payload bytes.

    With a signed payload each chunk's signature chains from the previous one, seeded with the
    request's signature; a chunk is released only once its signature checked out. Trailers
    (``x-amz-checksum-*``) after the last chunk are read and ignored.

    Raises (from :meth:`feed` and :meth:`finish`):
        SigV4Error: IncompleteBody or SignatureDoesNotMatch.
    """

    def __init__(self, signed: Signed | None) -> None:
        self._signed = (
            signed if signed and signed.payload_hash != STREAMING_UNSIGNED_TRAILER else None
        )
        self._previous = signed.signature if signed else ""
        self._buffer = bytearray()
        self._done = False

    def __repr__(self) -> str:
        return f"<ChunkDecoder buffered={len(self._buffer)} done={self._done}>"

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        out = bytearray()
        while not self._done:
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > MAX_CHUNK_HEADER:
                    raise SigV4Error("IncompleteBody", "an aws-chunked chunk header is malformed")
                break
            header = bytes(self._buffer[:end]).decode("latin-1")
            size_text, _, extension = header.partition(";")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise SigV4Error("IncompleteBody", "an aws-chunked chunk size is not hex") from None
            if len(self._buffer) < end + 2 + size + (2 if size else 0):
                break
            chunk = bytes(self._buffer[end + 2 : end + 2 + size])
            self._check(extension, chunk)
            if size == 0:
                self._done = True  # trailers (if any) follow; they are not payload
                self._buffer.clear()
                break
            del self._buffer[: end + 2 + size + 2]
            out += chunk
        return bytes(out)

    def finish(self) -> None:
        if not self._done:
            raise SigV4Error("IncompleteBody", "the aws-chunked body ended before its last chunk")

    def _check(self, extension: str, chunk: bytes) -> None:
        if self._signed is None:
            return
        name, _, given = extension.partition("=")
        if name.strip() != "chunk-signature":
            raise SigV4Error("SignatureDoesNotMatch", "an aws-chunked chunk has no chunk-signature")
        expected = chunk_signature(self._signed, self._previous, chunk)
        if not hmac.compare_digest(expected, given.strip()):
            raise SigV4Error(
                "SignatureDoesNotMatch", "an aws-chunked chunk signature does not match"
            )
        self._previous = expected


def chunk_signature(signed: Signed, previous: str, chunk: bytes) -> str:
    """The signature of one aws-chunked chunk (what a client puts in ``chunk-signature=``)."""
    text = "\n".join(
        [
            f"{ALGORITHM}-PAYLOAD",
            signed.amz_date,
            signed.credential.scope,
            previous,
            EMPTY_SHA256,
            hashlib.sha256(chunk).hexdigest(),
        ]
    )
    return signature(signed.signing_key, text)
