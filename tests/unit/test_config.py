"""The config loader: defaults, file, environment, and loud typos."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcd.config import DEFAULTS, ConfigError, load

REPO = Path(__file__).resolve().parents[2]


def test_conf_file_equals_embedded_defaults() -> None:
    assert load(REPO / "conf" / "fcd.toml", {}) == DEFAULTS


def test_no_file_gives_defaults() -> None:
    assert load(None, {}) == DEFAULTS


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text('listen = "127.0.0.1:7000"\nregion = "cn-shanghai"\n[limits]\ncode_size = 10\n')
    config = load(path, {"FCD_LISTEN": "0.0.0.0:8000", "FCD_DATA_DIR": "/srv/fcd"})
    assert config.listen == "0.0.0.0:8000"
    assert config.port == 8000
    assert config.data_dir == "/srv/fcd"
    assert config.region == "cn-shanghai"
    assert config.limits.code_size == 10


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('lisen = "x:1"\n', "lisen"),
        ("[limits]\ncode_sise = 1\n", "limits.code_sise"),
        ("[nope]\nx = 1\n", "nope"),
    ],
)
def test_unknown_key_is_named(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load(path, {})


@pytest.mark.parametrize(
    "environ",
    [
        {"FCD_LISTEN": "nohost"},
        {"FCD_LISTEN": "127.0.0.1:99999"},
        {"FCD_ACCESS_KEY_ID": "only-id"},
        {"FCD_ACCOUNT_ID": "abc"},
        {"FCD_ISOLATION": "docker"},
    ],
)
def test_bad_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load(None, environ)


def test_wrong_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text('[limits]\ncode_size = "big"\n')
    with pytest.raises(ConfigError, match="code_size"):
        load(path, {})


def test_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path, {})


@pytest.mark.parametrize("key", ["header_bytes", "header_count", "header_timeout"])
def test_request_head_limits_must_be_positive(tmp_path: Path, key: str) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text(f"[limits]\n{key} = 0\n")
    with pytest.raises(ConfigError, match=f"limits.{key}"):
        load(path, {})


def test_nas_exports_are_the_operators_keys(tmp_path: Path) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text('[nas]\nexports = { "srv.nas.example:/share" = "/srv/nas/share" }\n')
    assert load(path, {}).nas.exports == {"srv.nas.example:/share": "/srv/nas/share"}
    for bad in ('{ "no-path" = "/srv" }', '{ "srv:/x" = "relative/dir" }', '"/srv"'):
        path.write_text(f"[nas]\nexports = {bad}\n")
        with pytest.raises(ConfigError, match=r"nas\.exports"):
            load(path, {})


@pytest.mark.parametrize(
    "text",
    [
        "[sandbox]\nuid_first = 0\n",  # root
        "[sandbox]\nuid_first = 999\n",  # the system's accounts
        "[sandbox]\nuid_count = 0\n",
        "[sandbox]\nuid_first = 2147483000\nuid_count = 4000\n",
        "[sandbox]\npids_total = -1\n",
        "[sandbox]\nmemory_total = -1\n",
    ],
)
def test_bad_sandbox_values_are_refused_naming_the_key(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fcd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"sandbox\."):
        load(path, {})
