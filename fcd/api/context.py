"""What every management route needs, handed to the app once by the daemon."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from quart import current_app

from fcd.config import Config
from fcd.store import Store


@dataclass
class ApiContext:
    """The services behind the management API; ``clock`` is injectable for tests of time."""

    config: Config
    store: Store
    data_dir: Path
    # access key id → secret, or None when unknown.
    secret_for: Callable[[str], str | None]
    clock: Callable[[], float] = time.time
    # Components that later issues plug in (code store, invoker, …), by name.
    extras: dict[str, Any] = field(default_factory=dict)


def ctx() -> ApiContext:
    """The context of the app serving the current request."""
    return cast(ApiContext, current_app.config["FCD"])
