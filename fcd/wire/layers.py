"""Layer shapes (spec §4.9) and layer ARNs.

A layer version has two names, as on FC 2.0: ``arn`` = ``<hash>#<name>#<version>`` where the hash
is the MD5 of the account id (FC's docs show 32 hex characters there), and ``arnV2`` =
``acs:fc:<region>:<account>:layers/<name>/versions/<version>`` (the FC 3.0 form). Functions may
list either in ``layers``; ``GET /layerarn/<arn>`` accepts either.

Stored documents are :class:`StoredLayer`, which adds ``codeSha256`` (the package's digest in the
code store). ``code.location`` is a download URL that depends on the request's host and expires,
so it is filled in per response and stored empty.
"""

from __future__ import annotations

import hashlib
import re

import msgspec

from fcd.wire.functions import Code

MAX_LAYER_NAME = 64
ACL_PRIVATE = 0
ACL_PUBLIC = 1
# code.repositoryType: FC answers "OSS" and clients only read code.location; fcd keeps the value
# so tools that switch on it (to download from location) behave as against FC.
REPOSITORY_TYPE = "OSS"

_ARN_V2 = re.compile(
    r"acs:fc:(?P<region>[^:]+):(?P<account>[^:]+):layers/(?P<name>[^/]+)/versions/(?P<version>\d+)"
)
# FC's official layers (Python310, Nodejs-Puppeteer17x…) are named with the account "official":
# acs:fc:<region>:official:layers/<Name>/versions/<n>. On fcd the operator publishes them
# (``fcctl layer publish --official``); they are stored apart from the account's own layers.
OFFICIAL = "official"
OFFICIAL_LIST_SCOPE = "official"
_ARN_OFFICIAL = re.compile(
    r"acs:fc:(?P<region>[^:]*):official:layers/(?P<name>[^/]+)/versions/(?P<version>\d+)"
)
_ARN_V1 = re.compile(r"(?P<hash>[0-9a-f]{32})#(?P<name>[^#]+)#(?P<version>\d+)")


class PublishLayerInput(msgspec.Struct, rename="camel"):
    description: str | None = None
    code: Code | None = None
    compatible_runtime: list[str] | None = None
    license: str | None = None


class CodeLocation(msgspec.Struct, rename="camel"):
    repository_type: str = REPOSITORY_TYPE
    location: str = ""


class Layer(msgspec.Struct, rename="camel"):
    """A layer version, as Publish/Get/List answer it."""

    layer_name: str
    version: int
    arn: str
    arn_v2: str = msgspec.field(name="arnV2")
    create_time: str
    description: str = ""
    code: CodeLocation = msgspec.field(default_factory=CodeLocation)
    code_size: int = 0
    code_checksum: str = ""
    acl: int = ACL_PRIVATE
    compatible_runtime: list[str] = msgspec.field(default_factory=list)
    license: str | None = None


class StoredLayer(Layer):
    code_sha256: str = ""


class LayerList(msgspec.Struct, rename="camel", omit_defaults=True):
    layers: list[Layer]
    next_token: str | None = None


class LayerVersionList(msgspec.Struct, rename="camel", omit_defaults=True):
    layers: list[Layer]
    next_version: int | None = None


_stored_decoder = msgspec.json.Decoder(StoredLayer)


def decode_stored(raw: bytes) -> StoredLayer:
    return _stored_decoder.decode(raw)


def account_hash(account_id: str) -> str:
    """The first part of a v1 layer ARN: stable per account, 32 hex characters."""
    return hashlib.md5(account_id.encode(), usedforsecurity=False).hexdigest()


def arn_v1(account_id: str, name: str, version: int) -> str:
    return f"{account_hash(account_id)}#{name}#{version}"


def arn_v2(region: str, account_id: str, name: str, version: int) -> str:
    return f"acs:fc:{region}:{account_id}:layers/{name}/versions/{version}"


def version_scope(name: str, *, official: bool) -> str:
    """The scope of a layer's version documents; official layers' cannot clash with the
    account's own (layer names have no ``:``)."""
    return f"{OFFICIAL}:{name}" if official else name


def parse_official_arn(arn: str, *, region: str) -> tuple[str, int] | None:
    """``(layer name, version)`` of an official layer ARN of this region (empty = this one)."""
    match = _ARN_OFFICIAL.fullmatch(arn)
    if match is None or (match["region"] or region) != region:
        return None
    return match["name"], int(match["version"])


def parse_arn(arn: str, *, region: str, account_id: str) -> tuple[str, int] | None:
    """``(layer name, version)`` for an ARN of this region and account, in either form."""
    if match := _ARN_V2.fullmatch(arn):
        if match["region"] != region or match["account"] != account_id:
            return None
    elif match := _ARN_V1.fullmatch(arn):
        if match["hash"] != account_hash(account_id):
            return None
    else:
        return None
    return match["name"], int(match["version"])
