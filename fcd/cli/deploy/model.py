"""The deploy plan model both file formats are translated into."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    type: str
    config: dict[str, Any]
    qualifier: str | None = None
    invocation_role: str | None = None
    source_arn: str | None = None
    description: str | None = None

    def body(self) -> dict[str, Any]:
        """The wire fields of CreateTrigger/UpdateTrigger, without the absent ones."""
        fields = {
            "triggerConfig": self.config,
            "qualifier": self.qualifier,
            "invocationRole": self.invocation_role,
            "sourceArn": self.source_arn,
            "description": self.description,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    fields: dict[str, Any]
    code: Path | None
    triggers: tuple[TriggerSpec, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    fields: dict[str, Any]
    functions: tuple[FunctionSpec, ...] = ()


@dataclass(frozen=True)
class DomainSpec:
    name: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Hook:
    """A command the file runs around a deploy (never for ``--plan``)."""

    phase: str  # "pre-deploy" or "post-deploy"
    command: str
    cwd: Path


@dataclass(frozen=True)
class Spec:
    services: tuple[ServiceSpec, ...]
    domains: tuple[DomainSpec, ...] = ()
    hooks: tuple[Hook, ...] = ()
    # What the file asks for that fcd cannot honour or this tool does not translate, and why.
    warnings: tuple[str, ...] = field(default=())


class DeployFileError(ValueError):
    """The file cannot be read as either format, or names something it cannot resolve."""
