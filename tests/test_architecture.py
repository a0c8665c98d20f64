"""The layout: every module imports, imports run one way (no cycles), and no package reaches into
another package's private modules or names.

A module or name is private when it starts with `_` (but `__init__` / `__main__`). A private
module belongs to the package that holds it: only modules inside that package may import it.
A private name may only be imported from a module of one's own package. Imports inside
functions count: a lazy import hides a cycle from Python, not from a reader.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

PACKAGES = ("rsvp_jax", "llm_bridge")
# What the solver must never import (DESIGN: "the solver's own modules never import llm_bridge,
# torch or transformers"); only its command line composes both packages.
HEAVY = ("llm_bridge", "torch", "transformers")


def _modules() -> dict[str, Path]:
    """Every module of both packages: dotted name → source file (walked with `pkgutil`)."""
    out = {}
    for top in PACKAGES:
        pkg = importlib.import_module(top)
        out[top] = Path(pkg.__file__)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{top}."):
            spec = importlib.util.find_spec(info.name)
            out[info.name] = Path(spec.origin)
    return out


MODULES = _modules()


def _package(name: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    return name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """(target module, imported name or None, line) for every import statement of module `name`.

    `from pkg import sub` where `pkg.sub` is a module counts as importing `pkg.sub`.
    """
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    here = _package(name)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            for a in node.names:
                sub = f"{source}.{a.name}"
                out.append((sub, None, node.lineno) if sub in MODULES else (source, a.name, node.lineno))
    return out


def _private_owner(target: str) -> str | None:
    """The package that owns `target`'s first private component, or None if it is public."""
    parts = target.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and part not in ("__init__", "__main__"):
            return ".".join(parts[:i])
    return None


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_every_module_imports():
    for name in MODULES:
        if name.endswith("__main__"):
            continue
        importlib.import_module(name)


def test_no_import_of_another_packages_private_modules_or_names():
    bad = []
    for name in MODULES:
        for target, imported, line in _imports(name):
            if target.split(".")[0] not in PACKAGES:
                continue
            owner = _private_owner(target)
            if owner is not None and not _within(name, owner):
                bad.append(f"{name}:{line} imports the private module {target}")
            if imported is not None and imported.startswith("_") and target in MODULES and _package(target) != _package(name):
                bad.append(f"{name}:{line} imports the private name {imported} from {target}")
    assert not bad, "\n".join(bad)


def test_imports_form_no_cycle():
    graph = {name: sorted({t for t, _, _ in _imports(name) if t in MODULES and t != name}) for name in MODULES}
    state, stack, cycles = {}, [], []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in graph[n]:
            if state.get(m) == "open":
                cycles.append(" -> ".join(stack[stack.index(m):] + [m]))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_solver_never_imports_the_llm_side():
    bad = [f"{name}:{line} imports {target}" for name in MODULES if name.startswith("rsvp_jax.")
           and not _within(name, "rsvp_jax.cli") for target, _, line in _imports(name)
           if target.split(".")[0] in HEAVY]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("source, message", [
    ("from ..jacobian._tiles import tile_jacobians", "private module rsvp_jax.jacobian._tiles"),
    ("from ..integrate import _secret", "private name _secret"),
])
def test_the_checks_have_teeth(source, message, monkeypatch, tmp_path):
    """A planted violation in a module of `rsvp_jax.sweeps` is reported."""
    fake = tmp_path / "_fake.py"
    fake.write_text(source + "\n")
    monkeypatch.setitem(MODULES, "rsvp_jax.sweeps._fake", fake)
    with pytest.raises(AssertionError, match=message):
        test_no_import_of_another_packages_private_modules_or_names()


def test_a_planted_cycle_is_found(monkeypatch, tmp_path):
    for me, other in (("a", "b"), ("b", "a")):
        (tmp_path / f"fake_{me}.py").write_text(f"def f():\n    from . import fake_{other}\n")  # lazy counts
        monkeypatch.setitem(MODULES, f"rsvp_jax.fake_{me}", tmp_path / f"fake_{me}.py")
    with pytest.raises(AssertionError, match="rsvp_jax.fake_a -> rsvp_jax.fake_b -> rsvp_jax.fake_a"):
        test_imports_form_no_cycle()
