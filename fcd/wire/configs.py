"""Per-function configuration shapes: provision, on-demand and async invoke configs (spec §4.7-4.8).

Each resource has an input Struct whose fields are all optional (``None`` = not given), because
FC's puts are partial for lists that clients send as ``null`` to mean "keep" (the Java SDK's
tests pin that for ``scheduledActions`` and ``targetTrackingPolicies``), and a stored Struct
that is also the response shape.
"""

from __future__ import annotations

import msgspec


class ScheduledAction(msgspec.Struct, rename="camel"):
    """A provisioned target applied by ``scheduleExpression``: ``at(...)`` or ``cron(...)``."""

    name: str = ""
    start_time: str | None = None
    end_time: str | None = None
    target: int = 0
    schedule_expression: str = ""


class TargetTrackingPolicy(msgspec.Struct, rename="camel"):
    """Scale provisioned instances within min..max to hold ``metricType`` at ``metricTarget``."""

    name: str = ""
    start_time: str | None = None
    end_time: str | None = None
    metric_type: str = ""
    metric_target: float = 0.0
    min_capacity: int = 0
    max_capacity: int = 0


class ProvisionInput(msgspec.Struct, rename="camel"):
    target: int | None = None
    scheduled_actions: list[ScheduledAction] | None = None
    target_tracking_policies: list[TargetTrackingPolicy] | None = None
    always_allocate_cpu: bool | None = msgspec.field(default=None, name="alwaysAllocateCPU")


class ProvisionConfig(msgspec.Struct, rename="camel"):
    """Stored and returned; ``resource`` is ``<accountId>#<svc>#<qualifier>#<fn>``."""

    resource: str
    target: int = 0
    current: int = 0
    scheduled_actions: list[ScheduledAction] = msgspec.field(default_factory=list)
    target_tracking_policies: list[TargetTrackingPolicy] = msgspec.field(default_factory=list)
    always_allocate_cpu: bool = msgspec.field(default=True, name="alwaysAllocateCPU")
    current_error: str = ""


class ProvisionList(msgspec.Struct, rename="camel", omit_defaults=True):
    """``nextToken`` is absent when the list is finished (the Python SDK's test asserts it)."""

    provision_configs: list[ProvisionConfig]
    next_token: str | None = None


class OnDemandInput(msgspec.Struct, rename="camel"):
    maximum_instance_count: int | None = None


class OnDemandConfig(msgspec.Struct, rename="camel"):
    """Stored and returned; ``resource`` is ``services/<svc>.<qualifier>/functions/<fn>``."""

    resource: str
    maximum_instance_count: int


class OnDemandList(msgspec.Struct, rename="camel", omit_defaults=True):
    """With no configs both keys are absent (the SDK test: ``get("configs") is None``)."""

    configs: list[OnDemandConfig] | None = None
    next_token: str | None = None


class Destination(msgspec.Struct, rename="camel"):
    destination: str = ""


class DestinationConfig(msgspec.Struct, rename="camel", omit_defaults=True):
    on_success: Destination | None = None
    on_failure: Destination | None = None


class AsyncConfigInput(msgspec.Struct, rename="camel"):
    destination_config: DestinationConfig | None = None
    max_async_event_age_in_seconds: int | None = None
    max_async_retry_attempts: int | None = None
    stateful_invocation: bool | None = None


class AsyncConfig(msgspec.Struct, rename="camel"):
    """Stored and returned. Unset limits stay ``null`` (the Java SDK's test asserts it); the
    async queue applies its defaults (2 retries, 86400 s) when it reads them."""

    service: str
    function: str
    qualifier: str
    created_time: str
    last_modified_time: str
    destination_config: DestinationConfig = msgspec.field(default_factory=DestinationConfig)
    max_async_event_age_in_seconds: int | None = None
    max_async_retry_attempts: int | None = None
    stateful_invocation: bool = False


class AsyncConfigList(msgspec.Struct, rename="camel"):
    """``nextToken`` is always present, ``""`` when finished; ``configs`` is null when empty."""

    configs: list[AsyncConfig] | None
    next_token: str = ""
