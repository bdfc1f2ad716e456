"""docs/operator-guide.md documents every config key and environment override there is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from fcd.config import DEFAULTS, ENV_OVERRIDES

REPO = Path(__file__).resolve().parents[2]


def _configuration_section() -> str:
    text = (REPO / "docs" / "operator-guide.md").read_text()
    start = text.index("## Configuration")
    return text[start : text.index("\n## ", start + 1)]


def _keys(values: dict[str, Any], section: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _keys(value, key)
        else:
            out.append(f"`[{section}] {key}`" if section else f"`{key}`")
    return out


@pytest.mark.parametrize("key", _keys(msgspec.to_builtins(DEFAULTS)))
def test_every_config_key_is_documented(key: str) -> None:
    assert key in _configuration_section(), f"{key} is missing from docs/operator-guide.md"


@pytest.mark.parametrize("variable", sorted(ENV_OVERRIDES))
def test_every_environment_override_is_documented(variable: str) -> None:
    assert f"`{variable}`" in _configuration_section()
