"""``fcctl completion bash|zsh``: a shell completion script generated from fcctl's own parser.

shtab walks the argparse tree, so every command, option and choice fcctl has is completed and
the script never drifts from the parser. Install: ``fcctl completion bash >
/etc/bash_completion.d/fcctl`` or, for zsh, into a directory of ``$fpath`` as ``_fcctl``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import shtab

from fcd.cli.output import Raw

SHELLS = ("bash", "zsh")


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    root: argparse.ArgumentParser,
) -> None:
    help_text = "print a shell completion script for bash or zsh"
    parser = subparsers.add_parser("completion", help=help_text, description=help_text)
    parser.add_argument("shell", choices=SHELLS, help="the shell the script is for")

    def run(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
        script = shtab.complete(root, shell=args.shell)
        return Raw(script.encode(), data={"shell": args.shell, "script": script})

    parser.set_defaults(execute=None, config_command=run)
