"""The layers hold: which package may import which, no import cycles, small modules.

Imports inside functions count too (they hide a cycle from Python without removing it);
`if TYPE_CHECKING:` imports do not. The rules are the README's "Architecture" section.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
DOMAINS = {
    "audit",
    "contacts",
    "conversations",
    "dashboard",
    "media",
    "messenger",
    "notifications",
    "pages",
    "privacy",
    "webhooks",
}
# a domain's web face: these modules may import app.web (the REST base class, grids, headers)
DOMAIN_WEB_MODULES = ("views", "api", "routes", "public")


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports() -> dict[str, set[str]]:
    """Module → the app modules it imports (resolved to the longest existing module name)."""
    files = {_module_name(p): p for p in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            if _type_checking_only(node, parents):
                continue
            for target in targets:
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target not in {name, "app"} and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


GRAPH = _imports()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "app"


def test_there_is_no_import_cycle():
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_core_imports_no_domain_web_ops_or_devtools():
    bad = sorted(
        f"{m} -> {t}" for m, targets in GRAPH.items() if _layer(m) == "core" for t in targets if _layer(t) != "core"
    )
    assert bad == []


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_a_domain_never_imports_another_domains_views_nor_ops(domain):
    bad = []
    for module, targets in GRAPH.items():
        if _layer(module) != domain:
            continue
        for target in targets:
            layer, leaf = _layer(target), target.rpartition(".")[2]
            if layer in {"ops", "devtools"}:
                bad.append(f"{module} -> {target}")
            elif layer == "web" and not module.rpartition(".")[2].endswith(DOMAIN_WEB_MODULES):
                bad.append(f"{module} -> {target} (only views/api/routes use app.web)")
            elif layer in DOMAINS and layer != domain and leaf in DOMAIN_WEB_MODULES:
                bad.append(f"{module} -> {target} (another domain's web face)")
    assert bad == []


def test_services_and_models_never_import_tasks():
    """Jobs are enqueued by dotted path: only the worker imports a tasks module."""
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if t.endswith(".tasks") and not m.endswith(".tasks") and _layer(m) in DOMAINS
    )
    assert bad == []


def test_modules_stay_under_500_lines():
    big = sorted(
        f"{p.relative_to(APP.parent)}: {n}" for p in APP.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500
    )
    assert big == []
