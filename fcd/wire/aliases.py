"""Alias shapes (spec §4.5)."""

from __future__ import annotations

import msgspec


class AliasInput(msgspec.Struct, rename="camel"):
    """Create and update body; ``None`` = not given (an update keeps the stored value)."""

    alias_name: str | None = None
    # A string on the wire; a bare number (as one 2021 doc sample shows) is accepted too.
    version_id: str | int | None = None
    description: str | None = None
    additional_version_weight: dict[str, float] | None = None


class Alias(msgspec.Struct, rename="camel"):
    """A stored alias and the response of Create/Get/Update/List.

    ``additionalVersionWeight`` maps a version id to the probability (0..1) that an invocation
    through the alias goes to that version instead of ``versionId``.
    """

    alias_name: str
    version_id: str
    created_time: str
    last_modified_time: str
    description: str = ""
    additional_version_weight: dict[str, float] = msgspec.field(default_factory=dict)


class AliasList(msgspec.Struct, rename="camel", omit_defaults=True):
    aliases: list[Alias]
    next_token: str | None = None
