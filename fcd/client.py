"""A typed client of fcd's own API (FC 2.0, ``/2016-08-15``), standard library only.

fcctl and the tests use it; anything else that speaks the FC API (the official SDKs) works too,
so this client does not depend on the daemon's code: it imports only the signature scheme and the
wire helpers, and talks HTTP (``http.client``) over one keep-alive connection.

Every method returns the response's parsed JSON: a :class:`Resource` (a ``dict`` that also
carries the ``ETag`` header) for single resources, a plain ``dict`` for one page of a list, and
``None`` for deletes. ``iter_*`` methods follow ``nextToken`` across pages. Field names in the
keyword arguments are FC's camelCase wire names (``memorySize=512``) and go into the body as is.

Error handling:
    Any non-2xx answer raises :class:`ClientError` with the status, FC ``ErrorCode``, message and
    request id. Network failures raise ``OSError`` (``ConnectionRefusedError`` when no daemon
    listens). A keep-alive connection the server closed while idle is reopened once, silently.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import http.client
import io
import json
import os
import stat
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import crcmod

from fcd import signature

API_VERSION = "2016-08-15"
USER_AGENT = "fcd-client/0.1"
# FC's page size cap (spec §1.6): iterators ask for full pages.
MAX_PAGE = 100
# Bodies this large report their progress while being sent (code uploads, in practice).
PROGRESS_MIN_BYTES = 1024 * 1024
# FC's CodeSizeLimit (spec §8, account config): the largest code package, as a ZIP before
# base64. Checked here before anything is sent, so a package over it is named for what it is
# rather than refused later for the size of the request body.
CODE_SIZE_LIMIT = 100 * 1024 * 1024

JsonObject = dict[str, Any]
# CRC-64/XZ, what OSS and FC call crc64ecma; "123456789" -> 11051210869376104954.
_crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)


@dataclass(frozen=True)
class Credentials:
    """Where the daemon is and the key pair to sign with (spec §2)."""

    endpoint: str
    access_key_id: str
    access_key_secret: str
    account_id: str = ""
    security_token: str = ""
    # Seconds to wait for a connection or a response; uploads of large zips take a while.
    timeout: float = 120.0


def report_chunks(
    payload: bytes, progress: Callable[[int, int], None], size: int = 256 * 1024
) -> Iterator[bytes]:
    """``payload`` in ``size`` pieces, calling ``progress(sent, total)`` after each."""
    view = memoryview(payload)
    for start in range(0, len(payload), size):
        yield bytes(view[start : start + size])
        progress(min(start + size, len(payload)), len(payload))


class CodeTooLarge(ValueError):
    """A code package over :data:`CODE_SIZE_LIMIT`, found before any upload."""


def check_code_size(size: int, what: str) -> None:
    """Raise :class:`CodeTooLarge` when ``size`` bytes of ZIP exceed FC's CodeSizeLimit."""
    if size > CODE_SIZE_LIMIT:
        raise CodeTooLarge(
            f"{what} is {size / 2**20:.1f} MiB, over the code size limit of"
            f" {CODE_SIZE_LIMIT // 2**20} MiB (FC's CodeSizeLimit); leave files out of the"
            " package, or put large dependencies in a layer"
        )


class ClientError(Exception):
    """An FC error answer: ``status``, ``code`` (FC ``ErrorCode``), ``message``, ``request_id``."""

    def __init__(self, status: int, code: str, message: str, request_id: str) -> None:
        super().__init__(f"{status} {code}: {message} (request id {request_id or 'none'})")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id


class Resource(dict[str, Any]):
    """One resource's JSON, with the ``ETag`` the server sent for it (for ``if_match``)."""

    etag: str | None = None

    @classmethod
    def of(cls, data: Any, etag: str | None) -> Resource:
        resource = cls(data if isinstance(data, dict) else {})
        resource.etag = etag
        return resource


@dataclass(frozen=True)
class Reply:
    """A raw answer: status, headers (lower-case names) and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str:
        return self.headers.get("x-fc-request-id", "")

    def json(self) -> Any:
        """The body as JSON; an empty body (204) is ``None``."""
        return json.loads(self.body) if self.body.strip() else None


@dataclass(frozen=True)
class Invocation:
    """A synchronous invoke's answer: the function's bytes and what FC says about them.

    ``error_type`` is ``HandledInvocationError``/``UnhandledInvocationError`` when the function
    failed (the HTTP status is still 200 then, spec §5.3); ``log`` is the decoded tail of the
    request's log when it was asked for.
    """

    body: bytes
    request_id: str
    error_type: str = ""
    log: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


def signed_headers(
    credentials: Credentials,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "",
    headers: Mapping[str, str] | None = None,
    date: str | None = None,
) -> dict[str, str]:
    """The request headers, ``Authorization`` included, for ``method`` on ``path``.

    ``path`` is the full request path (``/2016-08-15/...``), percent-encoded as it goes on the
    wire; FC signs its decoded form, and no query (this client does not call ``/proxy`` routes).
    ``Content-MD5`` is base64 of the raw digest, the standard encoding (spec §1.2).
    """
    out = {name.lower(): value for name, value in (headers or {}).items()}
    out["date"] = date or email.utils.formatdate(usegmt=True)
    if credentials.account_id:
        out["x-fc-account-id"] = credentials.account_id
    if credentials.security_token:
        out["x-fc-security-token"] = credentials.security_token
    if body:
        out["content-type"] = content_type or "application/json"
        out["content-md5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    text = signature.string_to_sign(method, out, unquote(path))
    out["authorization"] = signature.authorization(
        credentials.access_key_id, credentials.access_key_secret, text
    )
    return out


def segment(name: str) -> str:
    """One path segment, percent-encoded (layer ARNs contain ``/`` and ``:``)."""
    return quote(name, safe="")


def qualified(service: str, qualifier: str | None) -> str:
    """``svc`` or ``svc.qualifier``, the path form of a service read through a qualifier."""
    return segment(f"{service}.{qualifier}" if qualifier else service)


def page_query(
    *,
    prefix: str | None = None,
    start_key: str | None = None,
    next_token: str | None = None,
    limit: int | None = None,
) -> dict[str, str]:
    """The FC list query (spec §1.6) without the parameters that were not given."""
    query = {"prefix": prefix, "startKey": start_key, "nextToken": next_token}
    out = {key: value for key, value in query.items() if value}
    if limit is not None:
        out["limit"] = str(limit)
    return out


def zip_directory(root: Path) -> bytes:
    """A ZIP of ``root``'s contents with paths relative to it, as FC unpacks them into /code.

    Unix modes are kept (a custom runtime's ``bootstrap`` must stay executable), symlinks are
    stored as links, empty directories as entries, and entries are sorted so the same tree gives
    the same bytes, and so the same ``codeChecksum``.

    Raises:
        NotADirectoryError: ``root`` is not a directory.
    """
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            here = Path(dirpath)
            if here != root and not dirnames and not filenames:
                _add_entry(archive, here, root, is_dir=True)
            for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
                _add_entry(archive, here / name, root, is_dir=False)
    return buffer.getvalue()


def _add_entry(archive: zipfile.ZipFile, path: Path, root: Path, *, is_dir: bool) -> None:
    name = path.relative_to(root).as_posix() + ("/" if is_dir else "")
    # A fixed timestamp keeps the archive, and its checksum, reproducible.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    mode = path.lstat().st_mode
    info.external_attr = (mode & 0xFFFF) << 16
    if is_dir:
        info.external_attr |= 0x10  # the MS-DOS directory bit, which unzip tools also read
        archive.writestr(info, b"")
    elif stat.S_ISLNK(mode):
        archive.writestr(info, os.readlink(path))
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())


def code_from_path(path: Path) -> JsonObject:
    """The ``code`` field for a directory (zipped here) or an existing ``.zip`` file.

    Raises:
        ValueError: ``path`` is a file but not a ZIP archive.
        CodeTooLarge: the ZIP is over FC's CodeSizeLimit (checked before it is read or sent).
        FileNotFoundError: ``path`` does not exist.
    """
    return {"zipFile": base64.b64encode(code_bytes(path)).decode()}


def code_bytes(path: Path) -> bytes:
    """The ZIP for a directory (zipped here) or an existing ``.zip`` file, size-checked.

    Raises:
        ValueError, CodeTooLarge, FileNotFoundError: as :func:`code_from_path`.
    """
    if path.is_dir():
        data = zip_directory(path)
        check_code_size(len(data), f"the ZIP of {path}")
    else:
        check_code_size(path.stat().st_size, str(path))
        data = path.read_bytes()
        if not zipfile.is_zipfile(io.BytesIO(data)):
            raise ValueError(f"{path} is neither a directory nor a ZIP archive")
    return data


def code_checksum(data: bytes) -> str:
    """FC's ``codeChecksum`` of a ZIP: CRC-64/XZ (ECMA-182) as a decimal string."""
    return str(_crc64(data))


@dataclass
class Client:
    """A signed connection to one fcd endpoint; close it (or use ``with``) when done.

    ``clock`` is for tests that sign with a skewed ``Date``; ``progress`` for a progress bar.
    """

    credentials: Credentials
    clock: Callable[[], float] = time.time
    # Called with (bytes sent, total) while a body of PROGRESS_MIN_BYTES or more is sent.
    progress: Callable[[int, int], None] | None = None
    _connection: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # --- transport ------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one signed request for ``path`` (below ``/2016-08-15``); return its answer.

        ``body`` is JSON-encoded unless it is ``bytes`` (sent as ``application/octet-stream``).

        Raises:
            ClientError: the status is not 2xx.
            OSError: the daemon cannot be reached.
        """
        full_path = f"/{API_VERSION}{path}"
        payload, content_type = _payload(body)
        signed = signed_headers(
            self.credentials,
            method,
            full_path,
            body=payload,
            content_type=content_type,
            headers=headers,
            date=email.utils.formatdate(self.clock(), usegmt=True),
        )
        signed["user-agent"] = USER_AGENT
        if payload:
            # Given here so a body sent in chunks (progress) is not sent chunk-encoded.
            signed["content-length"] = str(len(payload))
        target = full_path + (f"?{urlencode(query)}" if query else "")
        reply = self._send(method, target, payload, signed)
        if not 200 <= reply.status < 300:
            raise _error(reply)
        return reply

    def _send(self, method: str, target: str, payload: bytes, headers: dict[str, str]) -> Reply:
        for attempt in (1, 2):
            reused = self._connection is not None
            connection = self._connect()
            try:
                connection.request(method, target, body=self._body(payload), headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                # The server closed an idle keep-alive connection before our request reached
                # it: that request was never processed, so sending it again is safe.
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            if response.will_close:
                self.close()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        raise AssertionError("unreachable")

    def _body(self, payload: bytes) -> bytes | Iterator[bytes] | None:
        """The body as is, or in chunks reported to ``progress`` when it is large."""
        if not payload:
            return None
        if self.progress is None or len(payload) < PROGRESS_MIN_BYTES:
            return payload
        return report_chunks(payload, self.progress)

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            url = urlsplit(self.credentials.endpoint)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"endpoint '{self.credentials.endpoint}' is not an http(s) URL")
            factory = (
                http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            )
            self._connection = factory(url.hostname, url.port, timeout=self.credentials.timeout)
        return self._connection

    def _resource(self, method: str, path: str, **kwargs: Any) -> Resource:
        reply = self.call(method, path, **kwargs)
        return Resource.of(reply.json(), reply.headers.get("etag"))

    def _object(self, method: str, path: str, **kwargs: Any) -> JsonObject:
        data = self.call(method, path, **kwargs).json()
        return data if isinstance(data, dict) else {}

    def _iterate(self, path: str, key: str, query: Mapping[str, str]) -> Iterator[JsonObject]:
        """Every item of a paged list, following ``nextToken`` (spec §1.6)."""
        query = {"limit": str(MAX_PAGE), **query}
        while True:
            page = self._object("GET", path, query=query)
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return
            query = {**query, "nextToken": token}
            query.pop("startKey", None)

    # --- account ----------------------------------------------------------------------------

    def get_account_settings(self) -> JsonObject:
        return self._object("GET", "/account-settings")

    # --- services (spec §3 routes 2-6) -----------------------------------------------------

    def create_service(self, name: str, **fields: Any) -> Resource:
        return self._resource("POST", "/services", body={"serviceName": name, **fields})

    def get_service(self, name: str, qualifier: str | None = None) -> Resource:
        return self._resource("GET", f"/services/{qualified(name, qualifier)}")

    def update_service(self, name: str, *, if_match: str | None = None, **fields: Any) -> Resource:
        return self._resource(
            "PUT", f"/services/{segment(name)}", body=fields, headers=_if_match(if_match)
        )

    def delete_service(self, name: str, *, if_match: str | None = None) -> None:
        self.call("DELETE", f"/services/{segment(name)}", headers=_if_match(if_match))

    def list_services(self, *, tags: Mapping[str, str] | None = None, **page: Any) -> JsonObject:
        """One page; ``page`` takes ``prefix``, ``start_key``, ``next_token``, ``limit``."""
        query = page_query(**page) | {f"tag_{k}": v for k, v in (tags or {}).items()}
        return self._object("GET", "/services", query=query)

    def iter_services(
        self, *, tags: Mapping[str, str] | None = None, **page: Any
    ) -> Iterator[JsonObject]:
        """Every service; ``page`` takes ``prefix`` and ``start_key``."""
        query = page_query(**page) | {f"tag_{k}": v for k, v in (tags or {}).items()}
        return self._iterate("/services", "services", query)

    # --- functions (routes 7-12) -------------------------------------------------------------

    def _function_path(self, service: str, function: str, qualifier: str | None = None) -> str:
        return f"/services/{qualified(service, qualifier)}/functions/{segment(function)}"

    def create_function(self, service: str, name: str, **fields: Any) -> Resource:
        return self._resource(
            "POST", f"/services/{segment(service)}/functions", body={"functionName": name, **fields}
        )

    def get_function(self, service: str, name: str, qualifier: str | None = None) -> Resource:
        return self._resource("GET", self._function_path(service, name, qualifier))

    def update_function(
        self, service: str, name: str, *, if_match: str | None = None, **fields: Any
    ) -> Resource:
        return self._resource(
            "PUT", self._function_path(service, name), body=fields, headers=_if_match(if_match)
        )

    def delete_function(self, service: str, name: str, *, if_match: str | None = None) -> None:
        self.call("DELETE", self._function_path(service, name), headers=_if_match(if_match))

    def get_function_code(
        self, service: str, name: str, qualifier: str | None = None
    ) -> JsonObject:
        return self._object("GET", self._function_path(service, name, qualifier) + "/code")

    def list_functions(self, service: str, qualifier: str | None = None, **page: Any) -> JsonObject:
        path = f"/services/{qualified(service, qualifier)}/functions"
        return self._object("GET", path, query=page_query(**page))

    def iter_functions(
        self, service: str, qualifier: str | None = None, **page: Any
    ) -> Iterator[JsonObject]:
        path = f"/services/{qualified(service, qualifier)}/functions"
        return self._iterate(path, "functions", page_query(**page))

    def deploy_function(self, service: str, name: str, code: Path, **fields: Any) -> Resource:
        """Create the function with ``code`` (a directory or a ZIP), or update it if it exists.

        Raises:
            ClientError: as create or update would, except the function's absence.
        """
        fields = {**fields, "code": code_from_path(code)}
        try:
            self.get_function(service, name)
        except ClientError as e:
            if e.code != "FunctionNotFound":
                raise
            return self.create_function(service, name, **fields)
        return self.update_function(service, name, **fields)

    def invoke_function(
        self,
        service: str,
        name: str,
        payload: bytes = b"",
        qualifier: str | None = None,
        *,
        asynchronous: bool = False,
        log_tail: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Invocation:
        """Invoke a function (route 13); an asynchronous invoke answers 202 and no body.

        Raises:
            ClientError: FC refused the invoke (404 FunctionNotFound, 429 ResourceExhausted,
                ...); a function's own failure is not an exception but ``error_type``.
        """
        extra = dict(headers or {})
        if asynchronous:
            extra["X-Fc-Invocation-Type"] = "Async"
        if log_tail:
            extra["X-Fc-Log-Type"] = "Tail"
        reply = self.call(
            "POST",
            self._function_path(service, name, qualifier) + "/invocations",
            body=payload,
            headers=extra,
        )
        log = reply.headers.get("x-fc-log-result", "")
        return Invocation(
            body=reply.body,
            request_id=reply.request_id,
            error_type=reply.headers.get("x-fc-error-type", ""),
            log=base64.b64decode(log).decode(errors="replace") if log else "",
            headers=reply.headers,
        )

    # --- triggers (routes 14-18) -----------------------------------------------------------

    def _triggers_path(self, service: str, function: str) -> str:
        return self._function_path(service, function) + "/triggers"

    def create_trigger(
        self,
        service: str,
        function: str,
        name: str,
        trigger_type: str,
        trigger_config: Any,
        **fields: Any,
    ) -> Resource:
        body = {
            "triggerName": name,
            "triggerType": trigger_type,
            "triggerConfig": trigger_config,
            **fields,
        }
        return self._resource("POST", self._triggers_path(service, function), body=body)

    def get_trigger(self, service: str, function: str, name: str) -> Resource:
        return self._resource("GET", f"{self._triggers_path(service, function)}/{segment(name)}")

    def update_trigger(
        self, service: str, function: str, name: str, *, if_match: str | None = None, **fields: Any
    ) -> Resource:
        path = f"{self._triggers_path(service, function)}/{segment(name)}"
        return self._resource("PUT", path, body=fields, headers=_if_match(if_match))

    def delete_trigger(
        self, service: str, function: str, name: str, *, if_match: str | None = None
    ) -> None:
        path = f"{self._triggers_path(service, function)}/{segment(name)}"
        self.call("DELETE", path, headers=_if_match(if_match))

    def list_triggers(self, service: str, function: str, **page: Any) -> JsonObject:
        return self._object("GET", self._triggers_path(service, function), query=page_query(**page))

    def iter_triggers(self, service: str, function: str, **page: Any) -> Iterator[JsonObject]:
        return self._iterate(self._triggers_path(service, function), "triggers", page_query(**page))

    # --- versions (routes 19-21) -----------------------------------------------------------

    def publish_version(
        self, service: str, *, description: str | None = None, if_match: str | None = None
    ) -> Resource:
        body = {} if description is None else {"description": description}
        return self._resource(
            "POST", f"/services/{segment(service)}/versions", body=body, headers=_if_match(if_match)
        )

    def list_versions(
        self, service: str, *, direction: str | None = None, **page: Any
    ) -> JsonObject:
        query = page_query(**page) | ({"direction": direction} if direction else {})
        return self._object("GET", f"/services/{segment(service)}/versions", query=query)

    def iter_versions(self, service: str, *, direction: str | None = None) -> Iterator[JsonObject]:
        query = {"direction": direction} if direction else {}
        return self._iterate(f"/services/{segment(service)}/versions", "versions", query)

    def delete_version(self, service: str, version_id: str) -> None:
        self.call("DELETE", f"/services/{segment(service)}/versions/{segment(version_id)}")

    # --- aliases (routes 22-26) ------------------------------------------------------------

    def create_alias(self, service: str, name: str, version_id: str, **fields: Any) -> Resource:
        body = {"aliasName": name, "versionId": version_id, **fields}
        return self._resource("POST", f"/services/{segment(service)}/aliases", body=body)

    def get_alias(self, service: str, name: str) -> Resource:
        return self._resource("GET", f"/services/{segment(service)}/aliases/{segment(name)}")

    def update_alias(
        self, service: str, name: str, *, if_match: str | None = None, **fields: Any
    ) -> Resource:
        path = f"/services/{segment(service)}/aliases/{segment(name)}"
        return self._resource("PUT", path, body=fields, headers=_if_match(if_match))

    def delete_alias(self, service: str, name: str, *, if_match: str | None = None) -> None:
        path = f"/services/{segment(service)}/aliases/{segment(name)}"
        self.call("DELETE", path, headers=_if_match(if_match))

    def list_aliases(self, service: str, **page: Any) -> JsonObject:
        path = f"/services/{segment(service)}/aliases"
        return self._object("GET", path, query=page_query(**page))

    def iter_aliases(self, service: str, **page: Any) -> Iterator[JsonObject]:
        path = f"/services/{segment(service)}/aliases"
        return self._iterate(path, "aliases", page_query(**page))

    # --- custom domains (routes 27-31) -----------------------------------------------------

    def create_custom_domain(self, domain: str, **fields: Any) -> Resource:
        return self._resource("POST", "/custom-domains", body={"domainName": domain, **fields})

    def get_custom_domain(self, domain: str) -> Resource:
        return self._resource("GET", f"/custom-domains/{segment(domain)}")

    def update_custom_domain(self, domain: str, **fields: Any) -> Resource:
        return self._resource("PUT", f"/custom-domains/{segment(domain)}", body=fields)

    def delete_custom_domain(self, domain: str) -> None:
        self.call("DELETE", f"/custom-domains/{segment(domain)}")

    def list_custom_domains(self, **page: Any) -> JsonObject:
        return self._object("GET", "/custom-domains", query=page_query(**page))

    def iter_custom_domains(self, **page: Any) -> Iterator[JsonObject]:
        return self._iterate("/custom-domains", "customDomains", page_query(**page))

    # --- tags (routes 32-34) ---------------------------------------------------------------

    def tag_resource(self, resource_arn: str, tags: Mapping[str, str]) -> JsonObject:
        body = {"resourceArn": resource_arn, "tags": dict(tags)}
        return self._object("POST", "/tag", body=body)

    def untag_resource(
        self, resource_arn: str, tag_keys: list[str], *, all_keys: bool = False
    ) -> JsonObject:
        body = {"resourceArn": resource_arn, "tagKeys": tag_keys, "all": all_keys}
        return self._object("DELETE", "/tag", body=body)

    def get_resource_tags(self, resource_arn: str) -> JsonObject:
        return self._object("GET", "/tag", query={"resourceArn": resource_arn})

    # --- layers (routes 51-57) -------------------------------------------------------------

    def publish_layer_version(
        self, name: str, code: Any, *, official: bool = False, **fields: Any
    ) -> Resource:
        """``official``: the operator's copy of an FC official layer (fcd's ``official=true``),
        named ``acs:fc:<region>:official:layers/<name>/versions/<n>``."""
        path = f"/layers/{segment(name)}/versions"
        query = {"official": "true"} if official else None
        return self._resource("POST", path, body={"code": code, **fields}, query=query)

    def get_layer_version(self, name: str, version: int) -> Resource:
        return self._resource("GET", f"/layers/{segment(name)}/versions/{version}")

    def get_layer_version_by_arn(self, arn: str) -> Resource:
        return self._resource("GET", f"/layerarn/{segment(arn)}")

    def delete_layer_version(self, name: str, version: int) -> None:
        self.call("DELETE", f"/layers/{segment(name)}/versions/{version}")

    def list_layers(self, *, official: bool = False, **page: Any) -> JsonObject:
        query = page_query(**page) | ({"official": "true"} if official else {})
        return self._object("GET", "/layers", query=query)

    def list_layer_versions(
        self, name: str, *, start_version: int | None = None, limit: int | None = None
    ) -> JsonObject:
        query = {"startVersion": start_version, "limit": limit}
        return self._object(
            "GET",
            f"/layers/{segment(name)}/versions",
            query={k: str(v) for k, v in query.items() if v is not None},
        )

    # --- provision, on-demand and async-invoke configs (routes 36-46) -----------------------

    def put_provision_config(
        self, service: str, qualifier: str, function: str, target: int, **fields: Any
    ) -> JsonObject:
        path = self._function_path(service, function, qualifier) + "/provision-config"
        return self._object("PUT", path, body={"target": target, **fields})

    def get_provision_config(self, service: str, qualifier: str, function: str) -> JsonObject:
        path = self._function_path(service, function, qualifier) + "/provision-config"
        return self._object("GET", path)

    def list_provision_configs(
        self,
        *,
        service: str | None = None,
        qualifier: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> JsonObject:
        query = {"serviceName": service, "qualifier": qualifier} | page_query(
            next_token=next_token, limit=limit
        )
        return self._object(
            "GET", "/provision-configs", query={k: v for k, v in query.items() if v}
        )

    def put_on_demand_config(
        self,
        service: str,
        qualifier: str,
        function: str,
        maximum_instance_count: int,
        *,
        if_match: str | None = None,
    ) -> JsonObject:
        path = self._function_path(service, function, qualifier) + "/on-demand-config"
        body = {"maximumInstanceCount": maximum_instance_count}
        return self._object("PUT", path, body=body, headers=_if_match(if_match))

    def get_on_demand_config(self, service: str, qualifier: str, function: str) -> JsonObject:
        path = self._function_path(service, function, qualifier) + "/on-demand-config"
        return self._object("GET", path)

    def delete_on_demand_config(self, service: str, qualifier: str, function: str) -> None:
        self.call("DELETE", self._function_path(service, function, qualifier) + "/on-demand-config")

    def list_on_demand_configs(self, **page: Any) -> JsonObject:
        return self._object("GET", "/on-demand-configs", query=page_query(**page))

    def put_async_invoke_config(
        self, service: str, function: str, qualifier: str | None = None, **fields: Any
    ) -> JsonObject:
        path = self._function_path(service, function, qualifier) + "/async-invoke-config"
        return self._object("PUT", path, body=fields)

    def get_async_invoke_config(
        self, service: str, function: str, qualifier: str | None = None
    ) -> JsonObject:
        path = self._function_path(service, function, qualifier) + "/async-invoke-config"
        return self._object("GET", path)

    def delete_async_invoke_config(
        self, service: str, function: str, qualifier: str | None = None
    ) -> None:
        path = self._function_path(service, function, qualifier) + "/async-invoke-config"
        self.call("DELETE", path)

    def list_async_invoke_configs(
        self,
        service: str,
        function: str,
        *,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> JsonObject:
        path = self._function_path(service, function) + "/async-invoke-configs"
        return self._object("GET", path, query=page_query(next_token=next_token, limit=limit))


def _payload(body: Any) -> tuple[bytes, str]:
    if body is None:
        return b"", ""
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    return json.dumps(body).encode(), "application/json"


def _if_match(etag: str | None) -> dict[str, str]:
    return {"If-Match": etag} if etag else {}


def _error(reply: Reply) -> ClientError:
    """FC's ``{"ErrorCode", "ErrorMessage"}``; anything else keeps its text as the message."""
    code, message = "", reply.body.decode(errors="replace").strip()
    try:
        data = json.loads(reply.body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        code = str(data.get("ErrorCode") or "")
        message = str(data.get("ErrorMessage") or data.get("errorMessage") or message)
    return ClientError(reply.status, code, message, reply.request_id)
