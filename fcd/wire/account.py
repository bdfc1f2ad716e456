"""Account-level and read-only listing shapes (spec §3 routes 1, 47-50, 60, 62, 65)."""

from __future__ import annotations

import msgspec


class AccountSettings(msgspec.Struct, rename="camel"):
    available_a_zs: list[str] = msgspec.field(name="availableAZs")
    default_role: str = ""


class ReservedCapacity(msgspec.Struct, rename="camel"):
    instance_id: str
    cu: int
    deadline: str
    created_time: str
    last_modified_time: str
    is_refunded: str


class ReservedCapacityList(msgspec.Struct, rename="camel", omit_defaults=True):
    reserved_capacities: list[ReservedCapacity]
    next_token: str | None = None


class Instance(msgspec.Struct, rename="camel"):
    instance_id: str
    version_id: int


class InstanceList(msgspec.Struct, rename="camel", omit_defaults=True):
    instances: list[Instance]
    next_token: str | None = None


class StatefulInvocationList(msgspec.Struct, rename="camel", omit_defaults=True):
    """``invocations`` is absent when nothing matches (the Java SDK's test asserts ``null``)."""

    invocations: list[msgspec.Raw] | None = None
    next_token: str | None = None


class FunctionRef(msgspec.Struct, rename="camel"):
    service_name: str
    function_name: str
    qualifier: str


class FunctionRefList(msgspec.Struct, rename="camel"):
    """ListStatefulAsyncInvocationFunctions: ``{data, nextToken}`` (Java SDK model)."""

    data: list[FunctionRef] | None
    next_token: str = ""
