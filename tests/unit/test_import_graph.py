"""No import cycles in the core or the plugins — counting imports inside functions too: a cycle "broken" by a
function-level import is still a cycle (the shared piece belongs a layer further down)."""
from __future__ import annotations

import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = {"nsrun": "core", "nsrun_ns_pid": "plugins/ns_pid", "nsrun_ns_mnt": "plugins/ns_mnt",
            "nsrun_ns_ipc_uts_user": "plugins/ns_ipc_uts_user", "nsrun_security": "plugins/security",
            "nsrun_ns_net": "plugins/ns_net"}
for _pkg, _dir in (("nsrun_seccomp", "plugins/seccomp"), ("nsrun_cgroup", "plugins/cgroup")):
    if os.path.isdir(os.path.join(REPO, _dir)):
        PACKAGES[_pkg] = _dir


def _modules() -> dict[str, str]:
    out = {}
    for pkg, rel in PACKAGES.items():
        base = os.path.join(REPO, rel)
        for dirpath, _, files in os.walk(base):
            for f in files:
                if f.endswith(".py"):
                    parts = os.path.relpath(os.path.join(dirpath, f), base)[:-3].split(os.sep)
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    out[".".join([pkg, *parts])] = os.path.join(dirpath, f)
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(name: str, path: str, known: set[str]) -> set[str]:
    with open(path) as f:
        tree = ast.parse(f.read())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    is_pkg = path.endswith("__init__.py")
    here = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    graph = {name: _imports(name, path, known) for name, path in mods.items()}
    # importing a submodule imports its package first: that edge is not a cycle of ours
    return {name: {t for t in deps if not name.startswith(t + ".")} for name, deps in graph.items()}


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_plugins_import_only_the_public_api():
    graph = _graph()
    for name, deps in graph.items():
        if name.split(".")[0] == "nsrun":
            continue
        private = [d for d in deps if d.startswith("nsrun.") and d not in ("nsrun.syscalls", "nsrun.hookspecs")]
        assert not private, f"{name} imports private core modules {private}"
