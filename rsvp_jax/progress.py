"""Progress of long work (runs, sweeps, fits, Jacobians): one helper for every caller.

Long functions take `progress=`: `False`/`None` (silent), `True` (a tqdm bar on stderr) or a
callable `progress(done, total)`. They make a `Progress` from it and report absolute counts:

```python
with Progress(progress, total=steps, unit="step") as bar:
    for ...:
        bar.update(done, note=f"loss {L:.3e}")
```
"""

from __future__ import annotations


class Progress:
    """Reports `done` out of `total` to a callable, a tqdm bar, or nowhere (see the module docstring)."""

    def __init__(self, spec, total: int, unit: str = "step", desc: str | None = None):
        self.total, self.done = int(total), 0
        self._callback = spec if callable(spec) else None
        self._bar = None
        if spec is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, unit=unit, desc=desc, dynamic_ncols=True)

    def update(self, done: int, note: str | None = None) -> None:
        """`done` units are finished (an absolute count); `note` is shown beside a bar."""
        self.done = int(done)
        if self._callback is not None:
            self._callback(self.done, self.total)
        if self._bar is not None:
            self._bar.update(self.done - self._bar.n)
            if note:
                self._bar.set_postfix_str(note, refresh=False)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        """`n` more units are finished."""
        self.update(self.done + n, note)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["Progress"]
