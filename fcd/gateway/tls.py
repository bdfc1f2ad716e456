"""TLS for custom domains: the certificate is picked per connection from the SNI server name.

A custom domain with a ``certConfig`` (PEM ``certificate`` and ``privateKey``, spec §4.6) is
served over TLS on the ``https_listen`` listener: the handshake's server name is looked up
among the custom domains (exact, then ``*.`` wildcards, as :class:`~fcd.gateway.domains.
DomainIndex` does for ``Host``) and that domain's certificate is presented. A name with no
domain, or a domain without a certificate, ends the handshake with ``unrecognized_name``.

One :class:`ssl.SSLContext` is built per certificate and kept, keyed by the PEM text, so an
updated certificate takes effect at the next handshake and an unchanged one costs nothing. The
PEMs pass through a private temporary file only because ``load_cert_chain`` reads files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import tempfile
from pathlib import Path

from fcd.gateway.domains import DomainIndex

log = logging.getLogger(__name__)

# Certificates kept at once; more distinct ones than this just empties the cache.
MAX_CONTEXTS = 1024


def server_context(certificate: str, private_key: str, scratch: Path) -> ssl.SSLContext:
    """A server-side context presenting ``certificate`` (PEM chain) with ``private_key``.

    Raises:
        ssl.SSLError: the PEMs are not a certificate and its key.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(dir=scratch, suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(private_key.strip() + "\n" + certificate.strip() + "\n")
        context.load_cert_chain(name)
    finally:
        os.unlink(name)
    return context


class DomainCertificates:
    """Builds the listener's context, whose SNI callback swaps in each domain's certificate."""

    def __init__(self, domains: DomainIndex, scratch: Path) -> None:
        self.domains = domains
        self.scratch = scratch
        self._contexts: dict[str, ssl.SSLContext] = {}

    def __repr__(self) -> str:
        return f"<DomainCertificates cached={len(self._contexts)}>"

    def context(self) -> ssl.SSLContext:
        """The context the TLS listener is created with."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.sni_callback = self._pick
        return context

    def for_name(self, server_name: str) -> ssl.SSLContext | None:
        """The context of the custom domain named ``server_name``, or None."""
        domain = self.domains.domain(server_name) if self.domains.any() else None
        cert = domain.cert_config if domain is not None else None
        if cert is None or not cert.certificate or not cert.private_key:
            return None
        key = hashlib.sha256((cert.certificate + "\0" + cert.private_key).encode()).hexdigest()
        context = self._contexts.get(key)
        if context is None:
            try:
                context = server_context(cert.certificate, cert.private_key, self.scratch)
            except (ssl.SSLError, OSError) as e:
                log.warning("custom domain %s: its certificate cannot be used: %s", server_name, e)
                return None
            if len(self._contexts) >= MAX_CONTEXTS:
                self._contexts.clear()
            self._contexts[key] = context
        return context

    def _pick(
        self, connection: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext
    ) -> int | None:
        context = self.for_name(server_name or "")
        if context is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        connection.context = context
        return None
