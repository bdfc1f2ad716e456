"""customDNS: the function's /etc/resolv.conf is written from it (FC: it replaces the default)."""

from __future__ import annotations

from pathlib import Path

import fc2
import pytest

from tests.daemon import RunningDaemon
from tests.signed_http import api_call

READ_RESOLV_CONF = """
def handler(event, context):
    with open("/etc/resolv.conf") as f:
        return f.read()
"""


@pytest.mark.root
def test_custom_dns_is_the_sandboxs_resolv_conf(
    client: fc2.Client, daemon: RunningDaemon, tmp_path: Path, unique: str
) -> None:
    service = f"dns_{unique}"
    client.create_service(service, internetAccess=False)
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(READ_RESOLV_CONF)
    client.create_function(service, "f", "python3", "index.handler", codeDir=str(code))
    dns = {
        "nameServers": ["10.0.0.2"],
        "searches": ["svc.example"],
        "dnsOptions": [{"name": "ndots", "value": "2"}],
    }
    # The Python SDK has no customDNS argument: a signed UpdateFunction.
    path = f"/services/{service}/functions/f"
    updated = api_call(daemon, "PUT", path, {"customDNS": dns})
    assert updated.status_code == 200, updated.text
    seen = client.invoke_function(service, "f").data.decode()
    assert seen == "nameserver 10.0.0.2\nsearch svc.example\noptions ndots:2\n"
