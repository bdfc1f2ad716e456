"""Version shapes (spec §4.4): publish body, the version, and the list page."""

from __future__ import annotations

import msgspec

FORWARD = "FORWARD"
BACKWARD = "BACKWARD"
DIRECTIONS = (BACKWARD, FORWARD)


class VersionInput(msgspec.Struct, rename="camel"):
    """PublishServiceVersion body; Go sends ``{"Description": …}`` (no json tag)."""

    description: str | None = None


class Version(msgspec.Struct, rename="camel"):
    """A published version as clients see it; ``versionId`` is a decimal string."""

    version_id: str
    description: str
    created_time: str
    last_modified_time: str


class VersionList(msgspec.Struct, rename="camel", omit_defaults=True):
    """ListServiceVersions: ``direction`` is always echoed, ``nextToken`` only while more remain."""

    versions: list[Version]
    direction: str
    next_token: str | None = None
