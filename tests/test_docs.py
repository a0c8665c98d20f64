"""docs/correspondence.md: every function its table names exists, and the README links the page."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "correspondence.md"


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown table(s) in `text`, split on unescaped pipes."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))]
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue  # the separator
        rows.append(cells)
    return rows[1:]  # without the header


def resolve(path: str):
    """Import `a.b.c.name` (a module, then attributes): the longest importable module prefix wins."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(f"no module in {path!r} can be imported")


ROWS = table_rows(DOC.read_text())
NAMES = sorted({n for row in ROWS for n in re.findall(r"`([A-Za-z_][\w.]*)`", row[-1])})


def test_table_shape():
    assert len(ROWS) >= 15
    for row in ROWS:
        assert len(row) == 4, row  # seed concept | RSVP quantity | LLM quantity | computed by
        assert re.findall(r"`([A-Za-z_][\w.]*)`", row[-1]), f"row names no function: {row[0]}"
        assert all(n.split(".")[0] in ("rsvp_jax", "llm_bridge") for n in re.findall(r"`([^`]+)`", row[-1])), row


@pytest.mark.parametrize("name", NAMES)
def test_named_function_exists(name):
    assert resolve(name) is not None


def test_readme_links_the_page():
    assert "docs/correspondence.md" in (ROOT / "README.md").read_text()
