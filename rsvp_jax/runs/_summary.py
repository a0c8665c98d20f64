"""What every command's `summary.json` starts with, the timer and the printed lines they share."""

from __future__ import annotations

import time

import numpy as np


def say(*parts) -> None:
    """Print a line of a command's output now (not buffered)."""
    print(*parts, flush=True)


class Timer:
    """Seconds since it was made: `timer()`, rounded to milliseconds."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return round(time.perf_counter() - self.t0, 3)


def summary_header(command: str, model, lat, *, dt=None, steps=None, method=None, dtype=None, **more) -> dict:
    """The keys that open every RSVP command's summary: the command, the model (preset and every
    parameter), the lattice, the run (dt, steps, method, dtype; those given), then `more`."""
    head = {"command": command, "preset": model.name, "params": model.params(), "shape": list(lat.shape),
            "spacing": lat.spacing}
    run = {"dt": dt, "steps": steps, "method": method, "dtype": None if dtype is None else str(dtype)}
    return {**head, **{k: v for k, v in run.items() if v is not None}, **more}


def stats(a) -> dict:
    """{mean, min, max} of an array, as floats (a map's spread in a summary)."""
    a = np.asarray(a, dtype=float)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}


__all__ = ["say", "Timer", "summary_header", "stats"]
