"""Which version an invocation through an alias runs: a pure decision, given the random draw.

An alias names a main ``versionId`` and ``additionalVersionWeight`` ``{version: weight}``; each
weight is the probability that an invocation goes to that version instead of the main one. The
caller supplies the draw (``random.random()`` in production, fixed numbers in tests), so this
module holds no randomness and no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

# Sort key of non-numeric version ids: after every real version number.
AFTER_NUMBERS = 1 << 62


def choose_version(version_id: str, weights: Mapping[str, float], draw: float) -> str:
    """The version that serves an invocation whose uniform random draw is ``draw``.

    The unit interval is cut into consecutive slices, one per additional version (in version
    order, so the same draw always picks the same version), each as wide as its weight; a draw
    past the last slice goes to the main version. A weight on the main version itself (which
    official tests create, ``{"1": 0.9}`` on version ``"1"``) therefore routes to the main
    version either way. The API rejects weights outside ``[0, 1]`` or summing above 1; should
    such an alias reach here anyway, the later slices simply never win.

    Raises:
        ValueError: ``draw`` is not in ``[0, 1)``.
    """
    if not 0.0 <= draw < 1.0:
        raise ValueError(f"draw must be in [0, 1), got {draw!r}")
    edge = 0.0
    for candidate in sorted(weights, key=_version_order):
        edge += weights[candidate]
        if draw < edge:
            return candidate
    return version_id


def _version_order(version_id: str) -> tuple[int, str]:
    """Numeric order for version ids (``"2"`` before ``"10"``), any other text after them."""
    return (
        (int(version_id), "")
        if version_id.isascii() and version_id.isdigit()
        else (1 << 62, version_id)
    )
