"""Shared fixtures: a private nsrun root per test, a runner for the real CLI, and the leak check.

Privileged tests (``@pytest.mark.privileged``, or anything under tests/privileged or tests/compat) need root
and real namespaces. Without them they skip locally and FAIL under ``CI=true``: CI must run every one.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import leakcheck  # noqa: E402

BIN = os.path.dirname(sys.executable)
NSRUN = os.path.join(BIN, "nsrun")
IN_CI = os.environ.get("CI") == "true"


def _can_unshare() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        subprocess.run(["unshare", "--mount", "--pid", "--fork", "--net", "--ipc", "--uts", "true"], check=True,
                       capture_output=True, timeout=10)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        return f"cannot create namespaces: {exc}"
    return None


_PRIV_REASON = _can_unshare()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        if "/tests/privileged/" in path or "/tests/compat/" in path:
            item.add_marker(pytest.mark.privileged)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("privileged") and _PRIV_REASON:
        if IN_CI:
            pytest.fail(f"privileged test cannot run under CI=true: {_PRIV_REASON}", pytrace=False)
        pytest.skip(_PRIV_REASON)


@pytest.fixture
def unique() -> str:
    """A short unique token for names of this test's objects."""
    return uuid.uuid4().hex[:6]


@pytest.fixture
def nsrun_root(request: pytest.FixtureRequest) -> str:
    """A private nsrun root (``--root``) for this test, made as users make one (``mktemp -d``: 0700, owned
    by root); removed afterwards."""
    root = tempfile.mkdtemp(prefix="nsrtest-", dir="/tmp")  # mode 0700, as `mktemp -d` makes it for a user
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def leak_check(request: pytest.FixtureRequest):
    """Around every privileged test: a snapshot of the host BEFORE, then after the test (once teardowns in
    flight had a few seconds to finish) what is new and not on ``leakcheck.SHARED``'s allow-list is a leak: the
    test fails listing it. Only after looking is the root reset (``system reset``), so that a leak does not
    cascade into later tests and the root's shared objects (bridges, tables) do not outlive it; whatever even
    the reset leaves is reported too. Under ``CI=true`` a probe that cannot look fails the test."""
    if not request.node.get_closest_marker("privileged") or _PRIV_REASON:
        yield
        return
    root = request.getfixturevalue("nsrun_root")
    try:
        before = leakcheck.snapshot(root)
    except leakcheck.ProbeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield
    try:
        after, leaked = _settle(before, root)
        left = {}
        if leaked or leakcheck.owns_anything(before, after, root):
            reset = subprocess.run([NSRUN, "--root", root, "system", "reset"], capture_output=True, text=True,
                                   timeout=60)
            left = _settle(before, root, allow_shared=False)[1]
            if reset.returncode != 0:
                left["system reset"] = {f"exit {reset.returncode}: {reset.stderr.strip()}"}
    except leakcheck.ProbeError as exc:
        pytest.fail(str(exc), pytrace=False)
    problems = []
    if leaked:
        problems.append(f"test left nsrun objects behind: {_show(leaked)}")
    if left:
        problems.append(f"`nsrun system reset` left: {_show(left)}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _settle(before: dict, root: str, allow_shared: bool = True, tries: int = 30) -> tuple[dict, dict]:
    """The snapshot after a test and its leaks, looking again for a while while there are any: a supervisor
    may still be finishing its teardown after ``stop`` returned, the kernel deletes a dead namespace's veth
    asynchronously."""
    for i in range(tries):
        after = leakcheck.snapshot(root)
        leaked = leakcheck.leaks(before, after, root, allow_shared=allow_shared)
        if not leaked:
            break
        time.sleep(0.1)
    return after, leaked


def _show(found: dict[str, set[str]]) -> str:
    return "; ".join(f"{kind}: {sorted(items)}" for kind, items in sorted(found.items()))


class Runner:
    """Runs the real ``nsrun`` CLI with this test's root."""

    def __init__(self, root: str) -> None:
        self.root = root

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60, check: bool = False,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        cmd = [NSRUN, "--root", self.root, *args]
        result = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"{cmd} -> {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}")
        return result

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen([NSRUN, "--root", self.root, *args], **kwargs)


@pytest.fixture
def nsrun(nsrun_root: str) -> Runner:
    return Runner(nsrun_root)
