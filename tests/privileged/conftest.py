"""Fixtures for the network tests: the firewall backend under test, and a reset after each test (networks,
bridges and tables are shared objects that outlive a container, so every test removes them)."""
from __future__ import annotations

import shutil

import pytest

BACKENDS = ["nft", "iptables", "iptables-legacy"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict:
    """``{"plugins": ..., "env": ...}`` selecting one firewall backend (the legacy variant of iptables too)."""
    name = request.param
    env = {}
    if name == "iptables-legacy":
        if shutil.which("iptables-legacy-restore") is None:
            pytest.fail("iptables-legacy is not installed (make setup installs iptables)")
        env["NSRUN_IPTABLES"] = "iptables-legacy"
        name = "iptables"
    return {"plugins": f"ipc,uts,pid,net,{name},mnt,sec", "env": env, "name": request.param}


@pytest.fixture
def net_nsrun(nsrun, backend):
    """The ``nsrun`` runner with the backend selected; ``system reset`` afterwards."""
    def run(*args: str, **kwargs):
        kwargs.setdefault("env", backend["env"])
        return nsrun("--plugins", backend["plugins"], *args, **kwargs)
    run.plain = nsrun
    run.backend = backend
    yield run
    nsrun("system", "reset", env=backend["env"], timeout=60)
