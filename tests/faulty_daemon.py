"""``python -m tests.faulty_daemon <loop> [fcd args]``: the real daemon with one planted fault.

The named background loop raises once, from inside its loop, and marks every later pass in
the log, so a test can see the daemon survive the failure and the loop run again:

* ``refill``: the isolation's pool refill (``Isolation._prepare`` in the background);
* ``reaper``: the instance manager's keep-alive reaper (``InstancePool.reap``).
"""

from __future__ import annotations

import sys
from typing import Any

from fcd import daemon
from fcd.instances.pool import InstancePool
from fcd.isolation.sandbox import Isolation

PLANTED = "planted failure in the background loop"
RAN_AGAIN = "planted loop ran again"


def _once(original: Any, applies: Any) -> Any:
    failed = False

    def fault(*args: Any, **kwargs: Any) -> Any:
        nonlocal failed
        if applies(*args, **kwargs):
            if not failed:
                failed = True
                raise RuntimeError(PLANTED)
            print(RAN_AGAIN, file=sys.stderr, flush=True)
        return original(*args, **kwargs)

    return fault


def main() -> None:
    loop = sys.argv[1]
    if loop == "refill":
        Isolation._prepare = _once(  # type: ignore[method-assign]
            Isolation._prepare, lambda self, kind="generic", background=False: background
        )
    elif loop == "reaper":
        InstancePool.reap = _once(InstancePool.reap, lambda self, now: True)  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown loop {loop!r}")
    daemon.main(["serve", *sys.argv[2:]])


if __name__ == "__main__":
    main()
