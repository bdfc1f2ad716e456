"""``fcctl deploy [-t FILE] [--plan]``: read a deploy file, compare, and apply over the API."""

from __future__ import annotations

import argparse
import base64
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

from fcd.cli import args as a
from fcd.cli.deploy import funcraft, sdevs
from fcd.cli.deploy.model import DeployFileError, Spec
from fcd.cli.deploy.planner import Change, State, plan, summary
from fcd.cli.output import Listing
from fcd.client import Client, ClientError, check_code_size, code_bytes, code_checksum

# Looked for in the current directory, in this order, when -t is not given.
DEFAULT_FILES = ("s.yaml", "s.yml", "template.yml", "template.yaml")
# A deploy file is configuration, not data: bounded before it is parsed.
MAX_FILE_BYTES = 1024 * 1024
COLUMNS = ("action", "kind", "name", "fields")
NOT_FOUND = frozenset({"ServiceNotFound", "FunctionNotFound", "DomainNameNotFound"})


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = a.leaf(
        subparsers,
        "deploy",
        "create or update the services, functions, triggers and custom domains of an s.yaml"
        " (Serverless Devs) or template.yml (Funcraft)",
        run_deploy,
    )
    deploy.add_argument(
        "-t",
        "--template",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"the deploy file (default: the first of {', '.join(DEFAULT_FILES)} here)",
    )
    deploy.add_argument(
        "--plan",
        action="store_true",
        help="only show what would be created, updated or deleted (runs no hooks)",
    )


def find_file(given: Path | None, here: Path) -> Path:
    if given is not None:
        return given
    for name in DEFAULT_FILES:
        if (here / name).is_file():
            return here / name
    raise DeployFileError(f"no deploy file: none of {', '.join(DEFAULT_FILES)} in {here}; use -t")


def load(path: Path, environ: dict[str, str] | os._Environ[str]) -> Spec:
    """The plan model of the file at ``path``.

    Raises:
        DeployFileError: too large, not YAML, or neither format.
    """
    if path.stat().st_size > MAX_FILE_BYTES:
        raise DeployFileError(f"{path} is over {MAX_FILE_BYTES // 1024} KiB")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DeployFileError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    base = path.resolve().parent
    if sdevs.is_sdevs(doc):
        return sdevs.parse(doc, base, environ)
    if funcraft.is_funcraft(doc):
        return funcraft.parse(doc, base)
    raise DeployFileError(
        f"{path}: neither a Serverless Devs s.yaml (edition, services) nor a Funcraft"
        " template.yml (Transform, Resources)"
    )


def run_deploy(client: Client, args: argparse.Namespace) -> Any:
    path = find_file(args.template, Path.cwd())
    spec = load(path, os.environ)
    for warning in spec.warnings:
        sys.stderr.write(f"fcctl: warning: {warning}\n")
    if not args.plan:
        run_hooks(spec, "pre-deploy")
    codes: dict[tuple[str, str], bytes] = {}
    for service in spec.services:
        for function in service.functions:
            if function.code is not None:
                codes[(service.name, function.name)] = package(function.code)
    checksums = {key: code_checksum(data) for key, data in codes.items()}
    changes = plan(spec, read_state(client, spec), checksums)
    if not args.plan:
        for change in changes:
            apply(client, change, codes)
        run_hooks(spec, "post-deploy")
    counts = summary(changes)
    verb = "would change" if args.plan else "changed"
    sys.stderr.write(
        f"fcctl: {verb}: {counts['create']} to create, {counts['update']} to update,"
        f" {counts['delete']} to delete, {counts['unchanged']} unchanged\n"
        if args.plan
        else f"fcctl: {verb}: {counts['create']} created, {counts['update']} updated,"
        f" {counts['delete']} deleted, {counts['unchanged']} unchanged\n"
    )
    items = [
        {
            "action": c.action,
            "kind": c.kind,
            "name": c.path,
            "fields": ",".join(c.changed) if c.action == "update" else "",
        }
        for c in changes
    ]
    return Listing(items, COLUMNS)


def package(path: Path) -> bytes:
    """The code ZIP of a directory, a ZIP, or (Funcraft's ``CodeUri: hello.js``) one file.

    Raises:
        ValueError, CodeTooLarge, FileNotFoundError: as :func:`fcd.client.code_bytes`.
    """
    if not path.is_file() or zipfile.is_zipfile(path):
        return code_bytes(path)
    check_code_size(path.stat().st_size, str(path))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # A fixed timestamp: the same file gives the same bytes, and the same codeChecksum.
        info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def run_hooks(spec: Spec, phase: str) -> None:
    """Run the file's ``run:`` steps of ``phase``, each echoed first; stop at a failure.

    Raises:
        DeployFileError: a step exited non-zero.
    """
    for hook in spec.hooks:
        if hook.phase != phase:
            continue
        sys.stderr.write(f"fcctl: {phase}: running in {hook.cwd}: {hook.command}\n")
        sys.stderr.flush()
        # The hook's output goes to standard error: standard output is the plan (or --json).
        done = subprocess.run(
            hook.command, shell=True, cwd=hook.cwd, stdout=sys.stderr, check=False
        )
        if done.returncode != 0:
            raise DeployFileError(
                f"{phase} step '{hook.command}' exited with status {done.returncode}; nothing"
                " was deployed"
                if phase == "pre-deploy"
                else f"{phase} step '{hook.command}' exited with status {done.returncode}"
            )


def _get(read: Any, *names: str) -> Any:
    try:
        return read(*names)
    except ClientError as e:
        if e.code in NOT_FOUND:
            return None
        raise


def read_state(client: Client, spec: Spec) -> State:
    services: dict[str, Any] = {}
    functions: dict[tuple[str, str], Any] = {}
    triggers: dict[tuple[str, str], dict[str, Any]] = {}
    for service in spec.services:
        services[service.name] = _get(client.get_service, service.name)
        for function in service.functions:
            key = (service.name, function.name)
            found = None
            if services[service.name] is not None:
                found = _get(client.get_function, service.name, function.name)
            functions[key] = found
            triggers[key] = (
                {t["triggerName"]: t for t in client.iter_triggers(*key)} if found else {}
            )
    domains = {d.name: _get(client.get_custom_domain, d.name) for d in spec.domains}
    return State(services, functions, triggers, domains)


def apply(client: Client, change: Change, codes: dict[tuple[str, str], bytes]) -> None:
    """Perform one change over the API."""
    body = dict(change.body)
    if change.action == "unchanged":
        return
    if change.kind == "service":
        if change.action == "create":
            client.create_service(change.service, **body)
        else:
            client.update_service(change.service, **body)
    elif change.kind == "function":
        code = codes.get((change.service, change.function))
        if change.code and code is not None:
            body["code"] = {"zipFile": base64.b64encode(code).decode()}
        if change.action == "create":
            client.create_function(change.service, change.function, **body)
        else:
            client.update_function(change.service, change.function, **body)
    elif change.kind == "trigger":
        if change.action == "delete":
            client.delete_trigger(change.service, change.function, change.name)
        elif change.action == "create":
            kind = body.pop("triggerType")
            config = body.pop("triggerConfig")
            client.create_trigger(
                change.service, change.function, change.name, kind, config, **body
            )
        else:
            client.update_trigger(change.service, change.function, change.name, **body)
    elif change.action == "create":
        client.create_custom_domain(change.name, **body)
    else:
        client.update_custom_domain(change.name, **body)
