r"""LLM and RSVP Jacobian spectra, side by side.

Both sides are reduced to stacks of singular values, each stack summarised with the one shared
summary, `rsvp_jax.spectra.summarize`:

| group          | side | the spectra (each n singular values)                         | n        |
|----------------|------|--------------------------------------------------------------|----------|
| `llm_joint`    | LLM  | the joint detached map $[J_1 \cdots J_T]$ of the prompt        | d        |
| `llm_token`    | LLM  | each token's block $J_i = \partial y / \partial x_i$           | d        |
| `llm_layer`    | LLM  | the joint map to each layer's output (residual stream)       | d        |
| `rsvp_tile`    | RSVP | each tile's Jacobian $\partial F(x)_T / \partial x_T$ at the start | C·bᴰ |
| `rsvp_run`     | RSVP | the same at every tracked snapshot of a run (`--evolve`)     | C·bᴰ     |
| `rsvp_lattice` | RSVP | the whole-lattice map's top-k (matrix-free; leading modes only) | C·N   |

Maps of different sizes are put on the same axes by their size n: a spectrum is drawn as
σ_i/σ_1 against i/n, and every rank (effective, stable, k90) is divided by n, so that 1 means
"as many directions as the map has" and 1/n "one direction", whatever d or the tile size.

```python
from rsvp_jax import compare
llm = compare.spectra_from_llm_dataset("out/llm-jacobian")     # a folder of `rsvp llm-jacobian`, or its .nc
rsvp = compare.spectra_from_jacobian_dataset("out/jacobian")   # a folder of `rsvp jacobian`, or its .nc
result = compare.compare(llm, rsvp)                            # plain dict: the data behind every figure
compare.plot_spectra(result)                                   # σ_i/σ_1 against i/n, and the leading modes
print(compare.markdown_table(result))                          # the summaries side by side
```

In memory, `LLMSpectra.from_llm_spectra(lb.llm_spectra(m, ids))` and
`RSVPSpectra.from_analysis(analysis, top, evolution)` skip the files. Either side may be None.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from . import spectra
from .errors import ConfigError
from .plots import COMPARE_FIGURES as FIGURES
from .plots import plot_depth_time, plot_distributions, plot_energy, plot_profiles, plot_spectra

#: Group key → legend label, in the order of the table's columns.
GROUPS = {
    "llm_joint": "LLM [J₁…J_T]",
    "llm_token": "LLM Jᵢ per token",
    "llm_layer": "LLM per layer",
    "rsvp_tile": "RSVP tiles",
    "rsvp_run": "RSVP tiles over the run",
    "rsvp_lattice": "RSVP lattice top-k",
    "rsvp_horizon": "RSVP propagator M(T)",
}
#: The ranks whose distributions and profiles are drawn, each divided by n.
RANKS = ("effective_rank", "stable_rank", "k90")
#: The table's rows: the scalar summaries, then the ranks divided by n.
TABLE = ("sigma_max", "stable_rank", "effective_rank", "participation_ratio", "k90", "k99")
NORMALIZED = ("stable_rank", "effective_rank", "participation_ratio", "k90", "k99")
LEADING = 16  # modes in the leading-modes panel
QUANTILES = (0.1, 0.5, 0.9)  # the band (low, median, high) drawn over a stack of spectra


@dataclasses.dataclass(frozen=True)
class LLMSpectra:
    """The LLM side: singular values of one prompt's detached Jacobians, descending.

    - `token` (T, d): σ of each $J_i$; `joint` (d,): σ of $[J_1 \\cdots J_T]$.
    - `layer` (L, d) or None: σ of the joint map to each layer's output; `layers` (L,) their indices.
    - `tokens`: the prompt as text, one string per token; `meta`: model, prompt, … for summaries.
    """

    token: np.ndarray
    joint: np.ndarray
    layer: np.ndarray | None = None
    layers: np.ndarray | None = None
    tokens: tuple = ()
    meta: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_llm_spectra(cls, s: dict, part: str = "layer") -> LLMSpectra:
        """From the dict of `llm_bridge.llm_spectra` (its `layer` entry optional; `part` picks
        the layer point: "layer" the residual stream, or "attn" / "mlp")."""
        layer = s.get("layer")
        model = s.get("model", {})
        return cls(np.asarray(s["token"]["sigma"]), np.asarray(s["joint"]["sigma"]),
                   None if layer is None else np.asarray(layer["sigma"])[:, list(layer["parts"]).index(part)],
                   None if layer is None else np.asarray(layer["layers"]), tuple(s.get("tokens", ())),
                   {"model": str(model.get("source", "")), "family": model.get("family", ""),
                    "relative_error": float(s.get("relative_error", np.nan))})


@dataclasses.dataclass(frozen=True)
class RSVPSpectra:
    """The RSVP side: singular values of tile Jacobians (and of the whole lattice), descending.

    - `tile` (*G, n): σ of every tile's Jacobian at the analysed state (tile grid G).
    - `lattice` (k,) or None: the whole-lattice map's top-k σ.
    - `times` (S,) and `tile_t` (S, *G, n), or None: every tile's σ at S snapshots of a run.
    - `horizons`, or None: the propagator M(T) over H horizons, {"horizon" (H,), "sigma" (H, k)
      the top-k σ, "n" (H,) its size C·Nᴰ, and for s in stable_rank, effective_rank, k90:
      "<s>" (H,) and "<s>_error" (H,), the SLQ estimates with one standard error}.
    - `meta`: preset, shape, tile, … for summaries.
    """

    tile: np.ndarray
    lattice: np.ndarray | None = None
    times: np.ndarray | None = None
    tile_t: np.ndarray | None = None
    meta: dict = dataclasses.field(default_factory=dict)
    horizons: dict | None = None

    @classmethod
    def from_analysis(cls, analysis, top=None, evolution=None, meta=None, propagators=None) -> RSVPSpectra:
        """From a `jacobian.TileAnalysis`, an optional `TopSingular` and `TileEvolution`, and
        optionally a list of `PropagatorSpectrum` (one per horizon)."""
        track = evolution is not None and evolution.sigma is not None
        return cls(np.asarray(analysis.sigma), None if top is None else np.asarray(top.sigma),
                   np.asarray(evolution.times) if track else None, np.asarray(evolution.sigma) if track else None,
                   dict(meta or {}), horizons_from_spectra(propagators) if propagators else None)


HORIZON_RANKS = ("stable_rank", "effective_rank", "k90")


def horizons_from_spectra(spectra) -> dict:
    """`RSVPSpectra.horizons` from a list of `PropagatorSpectrum`."""
    k = min(len(ps.sigma) for ps in spectra)
    out = {"horizon": np.asarray([ps.horizon for ps in spectra]), "n": np.asarray([ps.n for ps in spectra]),
           "sigma": np.stack([np.asarray(ps.sigma)[:k] for ps in spectra])}
    for s in HORIZON_RANKS:
        out[s] = np.asarray([getattr(ps, s) for ps in spectra], float)
        out[f"{s}_error"] = np.asarray([getattr(ps, f"{s}_error") for ps in spectra], float)
    return out


# --------------------------------------------------------------------------- reading the datasets


def _dataset(path, filename: str, command: str, fmt: str, needs: tuple):
    """Open `path` (a folder holding `filename`, or the file), checking its format and variables."""
    from .io import open_dataset

    path = Path(path)
    if path.is_dir():
        if not (path / filename).is_file():
            raise ConfigError(f"folder {str(path)!r} has no {filename}; give a folder written by `rsvp {command}`")
        path = path / filename
    elif not path.exists():
        raise ConfigError(f"{str(path)!r} does not exist; give a folder written by `rsvp {command}` or its {filename}")
    ds = open_dataset(path)
    if not str(ds.attrs.get("format", "")).startswith(fmt):
        raise ConfigError(f"{str(path)!r} is not a {filename} of `rsvp {command}` "
                          f"(its format attribute is {ds.attrs.get('format')!r}, expected {fmt!r})")
    missing = [v for v in needs if v not in ds.variables]
    if missing:
        raise ConfigError(f"{str(path)!r} lacks the variable(s) {', '.join(missing)}")
    return ds, path


def _attrs(ds, keys) -> dict:
    """Attributes by name; lists and dicts that `io.save_dataset` stored as JSON text decoded again."""
    import json

    out = {}
    for k in keys:
        v = ds.attrs.get(k)
        if isinstance(v, str) and v[:1] in "[{":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def spectra_from_llm_dataset(path, part: str = "layer") -> LLMSpectra:
    """The LLM spectra in `llm_jacobian.nc` (written by `rsvp llm-jacobian`): a folder or the file.

    Reads `sigma_token` (token, mode), `sigma_joint` (mode) and, when the run had layers,
    `sigma_layer` (layer, part, mode) at `part`. A missing or foreign file is a `ConfigError`.
    """
    ds, path = _dataset(path, "llm_jacobian.nc", "llm-jacobian", "rsvp-jax llm-jacobian",
                        ("sigma_token", "sigma_joint"))
    layer = layers = None
    if "sigma_layer" in ds:
        parts = [str(p) for p in ds["part"].values]
        if part not in parts:
            raise ConfigError(f"part {part!r} is not in {str(path)!r}; its parts are {', '.join(parts)}")
        layer, layers = ds["sigma_layer"].values[:, parts.index(part)], ds["layer"].values
    meta = _attrs(ds, ("model", "family", "dtype", "prompt", "relative_error", "predicted_token"))
    tokens = tuple(str(t) for t in ds["token_text"].values) if "token_text" in ds else ()
    return LLMSpectra(ds["sigma_token"].values, ds["sigma_joint"].values, layer, layers, tokens,
                      {"file": str(path), **meta})


def spectra_from_jacobian_dataset(path) -> RSVPSpectra:
    """The RSVP spectra in `jacobian.nc` (written by `rsvp jacobian`): a folder or the file.

    Reads `sigma` (*tiles, mode), `lattice_sigma` (lattice_mode) when `--topk` was on, and
    `sigma_t` (time, *tiles, mode) with `time` when `--evolve` was on.
    """
    ds, path = _dataset(path, "jacobian.nc", "jacobian", "rsvp-jax tile jacobians", ("sigma",))
    meta = _attrs(ds, ("preset", "shape", "tile", "halo", "steps", "dt", "method"))
    has_t = "sigma_t" in ds
    horizons = None
    if "propagator_sigma" in ds:
        horizons = {"horizon": ds["horizon"].values, "n": ds["propagator_n"].values,
                    "sigma": ds["propagator_sigma"].values}
        for s in HORIZON_RANKS:
            horizons[s], horizons[f"{s}_error"] = ds[f"propagator_{s}"].values, ds[f"propagator_{s}_error"].values
    return RSVPSpectra(ds["sigma"].values, ds["lattice_sigma"].values if "lattice_sigma" in ds else None,
                       ds["time"].values if has_t else None, ds["sigma_t"].values if has_t else None,
                       {"file": str(path), **meta}, horizons)


# --------------------------------------------------------------------------- the comparison


def groups(llm: LLMSpectra | None, rsvp: RSVPSpectra | None) -> dict[str, np.ndarray]:
    """The stacks compared, by key of `GROUPS`: each (m, n), m spectra of n singular values."""
    out = {}
    if llm is not None:
        out["llm_joint"] = np.asarray(llm.joint)[None]
        out["llm_token"] = np.asarray(llm.token)
        if llm.layer is not None:
            out["llm_layer"] = np.asarray(llm.layer)
    if rsvp is not None:
        tile = np.asarray(rsvp.tile)
        out["rsvp_tile"] = tile.reshape(-1, tile.shape[-1])
        if rsvp.tile_t is not None:
            out["rsvp_run"] = np.asarray(rsvp.tile_t).reshape(-1, tile.shape[-1])
        if rsvp.lattice is not None:
            out["rsvp_lattice"] = np.asarray(rsvp.lattice)[None]
    return out


def summaries(stack) -> dict[str, np.ndarray]:
    """`spectra.summarize` of a stack (m, n) as NumPy arrays (each scalar key (m,), spectra (m, n))."""
    return {k: np.asarray(v) for k, v in spectra.summarize(np.asarray(stack)).items()}


def band(curves) -> dict[str, np.ndarray]:
    """The 10 / 50 / 90 % quantiles over m curves (m, n) of length n, against x = i/n (i = 1..n)."""
    curves = np.asarray(curves, np.float64)
    low, median, high = np.quantile(curves, QUANTILES, axis=0)
    n = curves.shape[-1]
    return {"x": np.arange(1, n + 1) / n, "low": low, "median": median, "high": high}


def _stats(values) -> dict[str, float]:
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def compare(llm: LLMSpectra | None, rsvp: RSVPSpectra | None) -> dict:
    """Everything the figures and the table show, as a plain dict (NumPy arrays and numbers).

    Keys (g a key of `GROUPS` present in the data; n its spectrum length, m its count):

    - `groups` {g: {label, n, count}} (`rsvp_lattice` also `modes`, the k computed); `llm`,
      `rsvp`: each side's `meta`.
    - `spectra` {g: band of σ_i/σ_1}, `energy` {g: band of the cumulative energy}: each
      {x (n,) = i/n, low, median, high (n,)} over the group's m spectra (`band`); not for
      `rsvp_lattice`, a truncated spectrum.
    - `leading` {g: {i (K,), normalized (K,)}}: the median σ_i/σ_1 of the first K ≤ 16 modes.
    - `distributions` {rank: {g: values (m,)}}: each of `RANKS`, divided by n.
    - `profiles` {`llm_layer`: {layer (L,), rank: (L,) / d}, `rsvp_time`: {time (S,),
      rank: {mean, min, max (S,)} over the tiles, / n}}.
    - `table` {g: {row: {mean, min, max}}}: the `TABLE` summaries and `NORMALIZED` ranks / n
      (as `"<rank>/n"`); `rsvp_lattice` has `sigma_max` only; `rsvp_horizon` the SLQ estimates of
      the stable and effective rank and k90 (and / n) over the horizons.
    - `depth_time` (when either side has depth or horizons): LLM depth beside RSVP time, each
      summarised the same way — {`llm`: {layer (L,), leading (L, K) σ_i/σ_1, rank: (L,) / d},
      `rsvp`: {horizon (H,), leading (H, K) σ_i/σ_1, rank: (H,) / n, rank_error: (H,) / n}}.
    """
    if llm is None and rsvp is None:
        raise ConfigError("compare needs at least one side (LLM or RSVP spectra)")
    stacks = groups(llm, rsvp)
    summ = {g: summaries(s) for g, s in stacks.items()}
    full = [g for g in stacks if g != "rsvp_lattice"]  # complete spectra: every summary is meaningful
    result = {
        "groups": {g: {"label": GROUPS[g], "n": int(s.shape[-1]), "count": int(s.shape[0])} for g, s in stacks.items()},
        "llm": dict(llm.meta) if llm is not None else None,
        "rsvp": dict(rsvp.meta) if rsvp is not None else None,
        "spectra": {g: band(summ[g]["normalized"]) for g in full},
        "energy": {g: band(summ[g]["cumulative_energy"]) for g in full},
        "leading": {},
        "distributions": {r: {g: summ[g][r] / stacks[g].shape[-1] for g in full} for r in RANKS},
        "profiles": {},
        "table": {},
    }
    for g in stacks:
        k = min(LEADING, stacks[g].shape[-1])
        result["leading"][g] = {"i": np.arange(1, k + 1), "normalized": np.median(summ[g]["normalized"][:, :k], axis=0)}
    for g in full:
        n = stacks[g].shape[-1]
        row = {key: _stats(summ[g][key]) for key in TABLE}
        row.update({f"{key}/n": _stats(summ[g][key] / n) for key in NORMALIZED})
        result["table"][g] = row
    if "rsvp_lattice" in stacks:
        # the whole map has n = C·N singular values (every tile's n times the tile count); k were computed
        result["groups"]["rsvp_lattice"].update(n=int(stacks["rsvp_tile"].size), modes=int(stacks["rsvp_lattice"].shape[-1]))
        result["table"]["rsvp_lattice"] = {"sigma_max": _stats(summ["rsvp_lattice"]["sigma_max"])}
    if "llm_layer" in stacks:
        d = stacks["llm_layer"].shape[-1]
        layers = np.arange(len(llm.layer)) if llm.layers is None else np.asarray(llm.layers)
        result["profiles"]["llm_layer"] = {"layer": layers,
                                           **{r: summ["llm_layer"][r] / d for r in RANKS}}
    _depth_time(result, llm, rsvp, stacks, summ)
    if "rsvp_run" in stacks:
        n, steps = stacks["rsvp_run"].shape[-1], len(rsvp.tile_t)
        per_time = {r: (summ["rsvp_run"][r] / n).reshape(steps, -1) for r in RANKS}
        result["profiles"]["rsvp_time"] = {
            "time": np.arange(steps) if rsvp.times is None else np.asarray(rsvp.times),
            **{r: {"mean": v.mean(1), "min": v.min(1), "max": v.max(1)} for r, v in per_time.items()},
        }
    return result


def _depth_time(result, llm, rsvp, stacks, summ) -> None:
    """`result["depth_time"]` and the `rsvp_horizon` group and table column (see `compare`)."""
    out = {}
    if "llm_layer" in stacks:
        d, K = stacks["llm_layer"].shape[-1], min(LEADING, stacks["llm_layer"].shape[-1])
        layers = np.arange(len(llm.layer)) if llm.layers is None else np.asarray(llm.layers)
        out["llm"] = {"layer": layers, "leading": summ["llm_layer"]["normalized"][:, :K],
                      **{r: summ["llm_layer"][r] / d for r in HORIZON_RANKS}}
    h = None if rsvp is None else rsvp.horizons
    if h is not None:
        n = np.asarray(h["n"], float)
        sigma = np.asarray(h["sigma"], float)
        K = min(LEADING, sigma.shape[-1])
        out["rsvp"] = {"horizon": np.asarray(h["horizon"]), "leading": sigma[:, :K] / sigma[:, :1],
                       **{r: np.asarray(h[r]) / n for r in HORIZON_RANKS},
                       **{f"{r}_error": np.asarray(h[f"{r}_error"]) / n for r in HORIZON_RANKS}}
        result["groups"]["rsvp_horizon"] = {"label": GROUPS["rsvp_horizon"], "n": int(n[0]), "count": len(n),
                                            "modes": int(sigma.shape[-1])}
        result["leading"]["rsvp_horizon"] = {"i": np.arange(1, K + 1), "normalized": np.median(sigma[:, :K] / sigma[:, :1], 0)}
        row = {"sigma_max": _stats(sigma[:, 0])}
        for r in HORIZON_RANKS:
            row[r] = _stats(h[r])
            row[f"{r}/n"] = _stats(np.asarray(h[r]) / n)
        result["table"]["rsvp_horizon"] = row
    if out:
        result["depth_time"] = out


# --------------------------------------------------------------------------- the table

ROW_NAMES = {
    "n": "n (singular values per map)", "count": "maps", "sigma_max": "σ₁", "stable_rank": "stable rank ‖J‖²_F/σ₁²",
    "effective_rank": "effective rank (entropy)", "participation_ratio": "participation ratio", "k90": "k90",
    "k99": "k99", **{f"{k}/n": f"{k.replace('_', ' ')} / n" for k in NORMALIZED},
}


def _cell(stats: dict | None) -> str:
    if stats is None:
        return "—"
    if stats["min"] == stats["max"]:
        return f"{stats['mean']:.4g}"
    return f"{stats['mean']:.4g} ({stats['min']:.3g}–{stats['max']:.3g})"


def markdown_table(result: dict) -> str:
    """The summaries side by side: one column per group, one row per summary.

    A cell is the mean over the group's maps, with (min–max) where they differ; "—" where a
    summary does not apply (the ranks of a truncated top-k spectrum).
    """
    cols = list(result["table"])
    lines = ["| | " + " | ".join(result["groups"][g]["label"] for g in cols) + " |",
             "|---|" + "---|" * len(cols)]
    lines.append(f"| {ROW_NAMES['n']} | " + " | ".join(str(result["groups"][g]["n"]) for g in cols) + " |")
    lines.append(f"| {ROW_NAMES['count']} | " + " | ".join(str(result["groups"][g]["count"]) for g in cols) + " |")
    for key in (*TABLE, *(f"{k}/n" for k in NORMALIZED)):
        lines.append(f"| {ROW_NAMES[key]} | " + " | ".join(_cell(result["table"][g].get(key)) for g in cols) + " |")
    return "\n".join(lines) + "\n"


__all__ = [
    "LLMSpectra", "RSVPSpectra", "spectra_from_llm_dataset", "spectra_from_jacobian_dataset", "groups",
    "summaries", "band", "compare", "markdown_table", "plot_spectra", "plot_energy", "plot_distributions",
    "plot_profiles", "plot_depth_time", "FIGURES", "GROUPS", "RANKS", "HORIZON_RANKS", "horizons_from_spectra",
]
