"""Equation sets: one file per model, each a frozen pytree dataclass of its parameters."""

from ..errors import ConfigError
from ._base import _PRESETS, Model, static
from .rsvp import Rsvp  # noqa: I001  (the import order is the order presets are listed in)
from .tartan import Tartan
from .centerfuge import Centerfuge
from .monograph import Monograph
from .seed import Seed


def preset(name: str, **params) -> Model:
    """The model called `name` with its default parameters, optionally changed by `params`."""
    if name not in _PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid presets are {', '.join(_PRESETS)}")
    return _PRESETS[name]().replace(**params) if params else _PRESETS[name]()


def presets() -> dict[str, dict]:
    """Every preset: its summary line, the dimensions it is defined in, and its default parameters."""
    out = {}
    for name, cls in _PRESETS.items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        out[name] = dict(summary=doc, dims=cls.dims, discrete=cls.discrete, params=cls().params())
    return out


__all__ = ["Model", "static", "preset", "presets", "Rsvp", "Tartan", "Centerfuge", "Monograph", "Seed"]
