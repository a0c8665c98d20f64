"""matplotlib's pyplot on a backend that needs no screen (Agg), unless a notebook's inline one is active."""

from __future__ import annotations


def pyplot():
    """`matplotlib.pyplot`, after switching to Agg when the backend would need a display."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


__all__ = ["pyplot"]
