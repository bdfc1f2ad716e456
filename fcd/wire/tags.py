"""Tag shapes (spec §4.10): only services carry tags, in the service document's ``tags`` map."""

from __future__ import annotations

import msgspec


class TagResourceInput(msgspec.Struct, rename="camel"):
    resource_arn: str | None = None
    tags: dict[str, str] | None = None


class UntagResourceInput(msgspec.Struct, rename="camel"):
    """``DELETE /tag`` body; ``all: true`` removes every tag whatever ``tagKeys`` says."""

    resource_arn: str | None = None
    tag_keys: list[str] | None = None
    all: bool | None = None


class TagResult(msgspec.Struct, rename="camel"):
    """Tag and untag answer a JSON object: the Python SDK parses the body of both."""

    request_id: str


class ResourceTags(msgspec.Struct, rename="camel"):
    """GetResourceTags, and one element of ListTaggedResources; the ARN is always the full one."""

    resource_arn: str
    tags: dict[str, str]


class TaggedResourceList(msgspec.Struct, rename="camel", omit_defaults=True):
    resources: list[ResourceTags]
    next_token: str | None = None
