"""What a deploy changes: the plan model against the daemon's state, as a list of changes (pure).

Only what the file names is compared; a setting the file leaves out keeps the daemon's value.
Nested objects are compared by the keys the file gives (the daemon fills in defaults), except
``environmentVariables``, which is the whole set. Deletions are limited to triggers of the
functions the file declares: nothing else the file does not name is ever deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fcd.cli.deploy.model import Spec

# Fields compared whole rather than by the keys the file gives.
EXACT = frozenset({"environmentVariables", "layers", "methods"})


@dataclass(frozen=True)
class State:
    """What the daemon has for the names of a file; None where a resource does not exist."""

    services: Mapping[str, Mapping[str, Any] | None]
    functions: Mapping[tuple[str, str], Mapping[str, Any] | None]
    triggers: Mapping[tuple[str, str], Mapping[str, Mapping[str, Any]]]
    domains: Mapping[str, Mapping[str, Any] | None]


@dataclass(frozen=True)
class Change:
    kind: str  # service | function | trigger | domain
    action: str  # create | update | delete | unchanged
    service: str = ""
    function: str = ""
    name: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] = ()
    code: bool = False  # the function's code is (re)uploaded

    @property
    def path(self) -> str:
        parts = [p for p in (self.service, self.function, self.name) if p]
        return "/".join(parts)


def covers(current: Any, desired: Any, key: str = "") -> bool:
    """Whether ``current`` already holds what ``desired`` asks for."""
    if isinstance(desired, dict) and key not in EXACT:
        if not isinstance(current, dict):
            return not desired
        return all(v is None or covers(current.get(k), v, k) for k, v in desired.items())
    if isinstance(desired, list) and key not in EXACT:
        return (
            isinstance(current, list)
            and len(current) == len(desired)
            and all(covers(c, d) for c, d in zip(current, desired, strict=True))
        )
    if isinstance(desired, dict) and not isinstance(current, dict):
        return not desired and current in (None, {})
    if isinstance(desired, list) and current is None:
        return not desired
    return bool(current == desired)


def differences(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in desired.items() if not covers(current.get(k), v, k)}


def plan(spec: Spec, state: State, checksums: Mapping[tuple[str, str], str]) -> list[Change]:
    """The changes, in the order they are applied: services, functions, triggers, domains."""
    changes: list[Change] = []
    for service in spec.services:
        current = state.services.get(service.name)
        if current is None:
            changes.append(Change("service", "create", service.name, body=dict(service.fields)))
        else:
            changes.append(_update("service", current, service.fields, service=service.name))
        for function in service.functions:
            key = (service.name, function.name)
            existing = state.functions.get(key)
            checksum = checksums.get(key)
            if existing is None:
                changes.append(
                    Change(
                        "function",
                        "create",
                        service.name,
                        function.name,
                        body=dict(function.fields),
                        code=function.code is not None,
                    )
                )
            else:
                change = _update(
                    "function",
                    existing,
                    function.fields,
                    service=service.name,
                    function=function.name,
                )
                if checksum is not None and existing.get("codeChecksum") != checksum:
                    change = Change(
                        "function",
                        "update",
                        service.name,
                        function.name,
                        body=change.body,
                        changed=(*change.changed, "code"),
                        code=True,
                    )
                changes.append(change)
            have = state.triggers.get(key, {})
            wanted = {t.name for t in function.triggers}
            for name in sorted(set(have) - wanted):
                changes.append(Change("trigger", "delete", service.name, function.name, name))
            for trigger in function.triggers:
                body = trigger.body()
                old = have.get(trigger.name)
                if old is None:
                    body["triggerType"] = trigger.type
                    changes.append(
                        Change("trigger", "create", service.name, function.name, trigger.name, body)
                    )
                elif str(old.get("triggerType", "")).lower() != trigger.type:
                    # FC cannot change a trigger's type: replace it.
                    changes.append(
                        Change("trigger", "delete", service.name, function.name, trigger.name)
                    )
                    body["triggerType"] = trigger.type
                    changes.append(
                        Change("trigger", "create", service.name, function.name, trigger.name, body)
                    )
                else:
                    changes.append(
                        _update(
                            "trigger",
                            old,
                            body,
                            service=service.name,
                            function=function.name,
                            name=trigger.name,
                        )
                    )
    for domain in spec.domains:
        current = state.domains.get(domain.name)
        if current is None:
            changes.append(Change("domain", "create", name=domain.name, body=dict(domain.fields)))
        else:
            changes.append(_update("domain", current, domain.fields, name=domain.name))
    return changes


def _update(
    kind: str,
    current: Mapping[str, Any],
    desired: Mapping[str, Any],
    *,
    service: str = "",
    function: str = "",
    name: str = "",
) -> Change:
    changed = differences(current, desired)
    if not changed:
        return Change(kind, "unchanged", service, function, name)
    return Change(
        kind, "update", service, function, name, body=changed, changed=tuple(sorted(changed))
    )


def summary(changes: list[Change]) -> dict[str, int]:
    counts = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
    for change in changes:
        counts[change.action] += 1
    return counts
