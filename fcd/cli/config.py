"""Where fcctl finds its endpoint and keys, and ``fcctl config``, which writes them down.

Like the SDKs, the environment wins over the file:

* endpoint: ``--endpoint``, else ``FCCTL_ENDPOINT``, ``FC_ENDPOINT``, else the file, else
  ``http://127.0.0.1:9000`` (the daemon's default listen address);
* key pair: ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``, else ``FCD_ACCESS_KEY_ID``/``_SECRET``,
  else the file; ``ALIBABA_CLOUD_SECURITY_TOKEN`` for STS keys;
* account id: ``FC_ACCOUNT_ID``, ``ALIBABA_CLOUD_ACCOUNT_ID``, ``FCD_ACCOUNT_ID``, else the file.

The file is ``~/.fcctl/config`` (``FCCTL_CONFIG`` names another), INI with one section per
profile (``--profile`` or ``FCCTL_PROFILE``, default ``default``)::

    [default]
    endpoint = http://127.0.0.1:9000
    access_key_id = LTAI...
    access_key_secret = ...
    account_id = 1234567890123456
"""

from __future__ import annotations

import argparse
import configparser
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fcd.cli.output import Message
from fcd.client import Credentials

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_PROFILE = "default"
# Setting name → environment variables, first set one wins.
ENVIRONMENT: dict[str, Sequence[str]] = {
    "endpoint": ("FCCTL_ENDPOINT", "FC_ENDPOINT"),
    "access_key_id": ("ALIBABA_CLOUD_ACCESS_KEY_ID", "FCD_ACCESS_KEY_ID"),
    "access_key_secret": ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "FCD_ACCESS_KEY_SECRET"),
    "security_token": ("ALIBABA_CLOUD_SECURITY_TOKEN",),
    "account_id": ("FC_ACCOUNT_ID", "ALIBABA_CLOUD_ACCOUNT_ID", "FCD_ACCOUNT_ID"),
}
SETTINGS = tuple(ENVIRONMENT)
SETTING_HELP = {
    "endpoint": "the daemon's URL to write, e.g. http://127.0.0.1:9000",
    "access_key_id": "the access key id to write",
    "access_key_secret": "the access key secret to write (the file is made 0600)",
    "security_token": "an STS security token to write, for temporary keys",
    "account_id": "the account id to write (sent as x-fc-account-id)",
}


class ConfigError(Exception):
    """The settings are incomplete or the file cannot be read."""


def config_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("FCCTL_CONFIG")
    if explicit:
        return Path(explicit)
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".fcctl" / "config"


def profile_name(environ: Mapping[str, str], given: str | None) -> str:
    return given or environ.get("FCCTL_PROFILE") or DEFAULT_PROFILE


def _parse(path: Path) -> configparser.ConfigParser:
    """The file as INI; empty when it does not exist.

    Raises:
        ConfigError: the file exists but is not valid INI.
    """
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as e:
        raise ConfigError(f"{path}: {e}") from None
    return parser


def read_profile(path: Path, profile: str, *, must_exist: bool = False) -> dict[str, str]:
    """The profile's settings from the file; empty when the file or section is missing.

    Raises:
        ConfigError: the file exists but is not valid INI; or ``must_exist`` (a profile the
            user named) and there is no such section: the message lists the known ones.
    """
    parser = _parse(path)
    if not parser.has_section(profile):
        if must_exist:
            known = ", ".join(parser.sections()) or "none"
            raise ConfigError(
                f"profile '{profile}' does not exist in {path}; known profiles: {known}"
                f" (create it with 'fcctl --profile {profile} config --access-key-id ID"
                " --access-key-secret SECRET')"
            )
        return {}
    return {key: value for key, value in parser.items(profile) if key in SETTINGS}


def resolve(
    environ: Mapping[str, str], *, profile: str | None = None, endpoint: str | None = None
) -> Credentials:
    """The credentials fcctl signs with: option, then environment, then file (module doc).

    Raises:
        ConfigError: no access key pair anywhere, or an unreadable file.
    """
    named = profile or environ.get("FCCTL_PROFILE")
    settings = read_profile(
        config_path(environ), profile_name(environ, profile), must_exist=bool(named)
    )
    for name, variables in ENVIRONMENT.items():
        for variable in variables:
            if environ.get(variable):
                settings[name] = environ[variable]
                break
    if endpoint:
        settings["endpoint"] = endpoint
    if not settings.get("access_key_id") or not settings.get("access_key_secret"):
        raise ConfigError(
            "no access key: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET,"
            " or run 'fcctl config --access-key-id ID --access-key-secret SECRET'"
        )
    return Credentials(
        endpoint=settings.get("endpoint") or DEFAULT_ENDPOINT,
        access_key_id=settings["access_key_id"],
        access_key_secret=settings["access_key_secret"],
        account_id=settings.get("account_id", ""),
        security_token=settings.get("security_token", ""),
    )


def write_profile(path: Path, profile: str, values: Mapping[str, str]) -> None:
    """Merge ``values`` into the profile's section; the file is private (0600), it holds keys.

    Raises:
        ConfigError: the existing file is not valid INI.
    """
    parser = _parse(path)
    if not parser.has_section(profile):
        parser.add_section(profile)
    for key, value in values.items():
        parser.set(profile, key, value)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        parser.write(file)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    help_text = "write endpoint and keys to ~/.fcctl/config, or show the settings in effect"
    parser = subparsers.add_parser("config", help=help_text, description=help_text)
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print raw JSON"
    )
    for name in SETTINGS:
        option = "--" + name.replace("_", "-")
        parser.add_argument(
            option, dest=f"set_{name}", default=None, metavar="VALUE", help=SETTING_HELP[name]
        )
    parser.set_defaults(execute=None, config_command=run)


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    """Write the options given into the profile; with none, show the settings in effect.

    Raises:
        ConfigError: as :func:`resolve` or :func:`write_profile`.
    """
    path = config_path(environ)
    profile = profile_name(environ, args.profile)
    given = {
        name: value for name in SETTINGS if (value := getattr(args, f"set_{name}")) is not None
    }
    if given:
        write_profile(path, profile, given)
        written = {"path": str(path), "profile": profile, "keys": sorted(given)}
        return Message(f"wrote profile '{profile}' to {path}", written)
    credentials = resolve(environ, profile=args.profile, endpoint=args.endpoint)
    secret = credentials.access_key_secret
    return {
        "path": str(path),
        "profile": profile,
        "endpoint": credentials.endpoint,
        "access_key_id": credentials.access_key_id,
        # Enough to tell two secrets apart, not enough to use one.
        "access_key_secret": secret[:3] + "*" * max(len(secret) - 3, 0),
        "account_id": credentials.account_id,
    }
