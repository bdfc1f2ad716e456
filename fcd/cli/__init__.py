"""fcctl: the command line of fcd; talks to the daemon over HTTP only, through fcd.client.

One module per subcommand group (services, functions, triggers, versions, aliases, config); each
registers its parsers and the handler every action runs. ``main`` is the only place that reads
the environment and writes to the terminal. docs/cli.md lists every command (a test keeps it so).

Exit status: 0 on success, 1 when the daemon answered with an error or could not be reached,
2 for usage and configuration errors.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence

from fcd import __version__
from fcd.cli import (
    aliases,
    async_,
    bucket,
    completion,
    config,
    functions,
    hints,
    invoke,
    layers,
    logs,
    output,
    services,
    triggers,
    versions,
)
from fcd.cli.deploy import command as deploy
from fcd.cli.deploy.model import DeployFileError
from fcd.cli.progress import upload_progress
from fcd.client import Client, ClientError

GROUPS = (
    services,
    functions,
    triggers,
    versions,
    aliases,
    layers,
    config,
    logs,
    invoke,
    async_,
    bucket,
    deploy,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcctl",
        description="Manage an fcd daemon (the Function Compute 2.0 API) from the shell.",
        epilog="Credentials and endpoint: environment, else ~/.fcctl/config (see 'fcctl config').",
    )
    parser.add_argument("--version", action="version", version=f"fcctl {__version__}")
    parser.add_argument("--endpoint", default=None, help="daemon URL, e.g. http://127.0.0.1:9000")
    parser.add_argument("--profile", default=None, help="section of ~/.fcctl/config to use")
    parser.add_argument("--json", action="store_true", default=False, help="print raw JSON")
    subparsers = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for module in GROUPS:
        module.register(subparsers)
    completion.register(subparsers, parser)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one fcctl command; return the exit status."""
    environ = os.environ if environ is None else environ
    parser = build_parser()
    args = parser.parse_args(argv)
    endpoint = ""
    try:
        if args.execute is None:
            result = args.config_command(args, environ)
        else:
            credentials = config.resolve(environ, profile=args.profile, endpoint=args.endpoint)
            endpoint = credentials.endpoint
            with (
                upload_progress(sys.stdout, sys.stderr) as report,
                Client(credentials, progress=report) as client,
            ):
                result = args.execute(client, args)
        output.emit(result, as_json=args.json, out=sys.stdout)
        if isinstance(result, output.Raw) and result.failure:
            return _fail(result.failure, 1)
    except argparse.ArgumentTypeError as e:
        parser.error(str(e))
    except DeployFileError as e:
        return _fail(f"deploy file: {e}", 2)
    except config.ConfigError as e:
        return _fail(f"configuration: {e}", 2)
    except ClientError as e:
        return _fail(f"{e}{hints.hint(e.code)}", 1)
    except (ConnectionError, TimeoutError, socket.gaierror) as e:
        return _fail(
            f"cannot reach {endpoint or 'the daemon'}: {e}; is fcd running there? (--endpoint,"
            " FCCTL_ENDPOINT or 'fcctl config --endpoint URL')",
            1,
        )
    except (OSError, ValueError) as e:
        return _fail(str(e), 2)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # one line, never a traceback: the user cannot act on one
        if environ.get("FCCTL_DEBUG"):
            raise
        return _fail(
            f"unexpected {type(e).__name__}: {e} (FCCTL_DEBUG=1 shows where; please report it)",
            1,
        )
    return 0


def _fail(message: str, status: int) -> int:
    one_line = " ".join(message.split())
    sys.stderr.write(f"fcctl: error: {one_line}\n")
    return status
