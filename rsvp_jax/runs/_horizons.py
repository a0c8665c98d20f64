"""The dynamics over horizons, as `rsvp jacobian --horizon` computes, prints and files them.

`horizon_analysis` runs, at one state: the propagator M(T) at every horizon of a ladder (top-k
triplets with residuals, the SLQ shape with error bars, where the top modes live tile by tile),
optionally the generator's tile blocks with their eigenvalues and the leading Lyapunov
exponents over the longest horizon. It returns what `jacobian_to_folder` writes: the figures,
the dataset variables and the summary entries.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import plots
from ..jacobian import (analyze_tiles, comb_periods, halo_radius, horizon_dataset, horizon_ladder, horizon_steps,
                        lyapunov_spectrum, mode_map, parse_horizons, propagator_spectrum)
from ._summary import Timer, say, stats

#: A coloured k-step tile Jacobian costs C·Πs lattice JVPs of k steps (s the comb periods); past
#: this share of the lattice's cells per colour class it is (nearly) the full Jacobian.
COLOURING_PAYS = 0.25


@dataclasses.dataclass(frozen=True)
class HorizonResults:
    """What `horizon_analysis` found: `spectra` (a `PropagatorSpectrum` per horizon), `mode_maps`,
    `lyapunov` (or None), `generator` (a `TileAnalysis` of A, or None), `ladder` notes,
    `figures` (file name → figure), `dataset` (an `xarray.Dataset`) and `summary` (JSON-able)."""

    spectra: list
    mode_maps: list
    lyapunov: object
    generator: object
    figures: dict
    dataset: object
    summary: dict


def colouring_cost(model, lat, steps: int, method: str) -> dict:
    """How many lattice JVPs exact tile blocks of the `steps`-step map need, and whether that pays."""
    r = halo_radius(model, steps, method)
    periods = comb_periods(lat, r)
    jvps = lat.channels * math.prod(periods)
    pays = math.prod(periods) <= COLOURING_PAYS * lat.size
    return {"halo_radius": r, "comb_periods": list(periods), "jvps": int(jvps), "pays": bool(pays)}


def horizon_analysis(model, lat, x0, dt, tile, method: str = "ssprk3", horizons="auto", *, k: int = 16,
                     probes: int = 8, lanczos_steps: int = 24, depth: int | None = None, max_steps: int | None = None,
                     generator: bool = False, lyapunov: int = 0, seed: int = 0) -> HorizonResults:
    """The propagator spectra over `horizons` ("auto": `horizon_ladder` of the model's time scales;
    or times), and with `generator` / `lyapunov` K the generator's tile blocks / K exponents."""
    given = parse_horizons(horizons)
    summary: dict = {}
    if given is None:
        ladder = horizon_ladder(model, lat, x0, dt, tile, **({} if max_steps is None else {"max_steps": max_steps}))
        Ts, sources = ladder.horizons, ladder.sources
        summary["time_scales"] = ladder.scales
        summary["ladder"] = {"capped": list(ladder.capped), "max_steps": ladder.max_steps, "notes": ladder.describe()}
        say("  horizons from the model's time scales over a tile: " + "; ".join(ladder.describe()))
    else:
        Ts, sources = given, tuple(("given",) for _ in given)
    longest = max(horizon_steps(T, dt) for T in Ts)
    k = int(min(k, lat.channels * lat.size))
    spectra, maps, entries = [], [], []
    for T, src in zip(Ts, sources):
        t = Timer()
        ps = propagator_spectrum(model, lat, x0, dt, T, k=k, method=method, probes=probes, lanczos_steps=lanczos_steps,
                                 depth=depth, max_steps=longest, seed=seed)
        mm = mode_map(ps.V, lat, tile)
        cost = colouring_cost(model, lat, ps.steps, method)
        spectra.append(ps)
        maps.append(mm)
        entry = {**ps.summary(), "sources": list(src), "top_mode_label_counts": _counts(mm.labels[0]),
                 "tile_blocks": cost, "seconds": t()}
        if cost["pays"]:
            a = analyze_tiles(model, lat, x0, dt, tile, ps.steps, False, method)
            entry["tile_blocks"].update(exact=True, effective_rank=stats(a.effective_rank),
                                        stable_rank=stats(a.summary["stable_rank"]), sigma_max=stats(a.sigma_max))
        else:
            entry["tile_blocks"].update(exact=False, reason=(
                f"the {ps.steps}-step map reaches {cost['halo_radius']} cells: colouring would need "
                f"{cost['jvps']} JVPs (the comb periods {tuple(cost['comb_periods'])} cover the lattice), so the "
                "tile map comes from the global modes"))
        entries.append(entry)
        say(f"  T = {ps.horizon:g} ({ps.steps} steps): σ₁ {float(ps.sigma[0]):.4g}, σ_{k} {float(ps.sigma[-1]):.3g}; "
            f"stable rank {ps.stable_rank:.4g} ± {ps.stable_rank_error:.2g}, effective rank "
            f"{ps.effective_rank:.4g} ± {ps.effective_rank_error:.2g}, k90 {ps.k90:.4g} ± {ps.k90_error:.2g} "
            f"of n = {ps.n}; max residual {float(np.max(ps.residual)):.1e} ({entry['seconds']:.1f} s)")
    summary["horizons"] = entries

    figures = {"horizon_spectra.png": plots.plot_horizon_spectra(spectra),
               "mode_maps.png": plots.plot_mode_maps(maps, [ps.horizon for ps in spectra], lat)}
    ly = gen = None
    if lyapunov:
        t = Timer()
        ly = lyapunov_spectrum(model, lat, x0, dt, max(Ts), k=int(min(lyapunov, lat.channels * lat.size)),
                               method=method, seed=seed)
        summary["lyapunov"] = {**ly.summary(), "seconds": t()}
        figures["lyapunov.png"] = plots.plot_lyapunov(ly)
        say(f"  {len(ly.exponents)} Lyapunov exponents over T = {ly.horizon:g}: "
            + ", ".join(f"{v:.3g}" for v in ly.exponents[:6]) + (" ..." if len(ly.exponents) > 6 else "")
            + f" ({summary['lyapunov']['seconds']:.1f} s)")
    if generator and not model.discrete:
        t = Timer()
        gen = analyze_tiles(model, lat, x0, dt, tile, generator=True)
        summary["generator"] = {key: stats(gen.summary[key]) for key in ("growth_rate", "decay_rate", "frequency")}
        summary["generator"]["seconds"] = t()
        figures["generator_map.png"] = plots.plot_tile_map(gen.summary["growth_rate"], "growth rate max Re λ of each "
                                                           "tile's generator block", lat, tile, cmap="coolwarm",
                                                           label="max Re λ")
        g = summary["generator"]
        say(f"  generator blocks: growth rate {g['growth_rate']['min']:.3g}..{g['growth_rate']['max']:.3g}, fastest "
            f"decay {g['decay_rate']['max']:.3g}, frequency up to {g['frequency']['max']:.3g}")
    ds = horizon_dataset(lat, tile, spectra, maps, ly, gen)
    return HorizonResults(spectra, maps, ly, gen, figures, ds, summary)


def _counts(labels) -> dict:
    from ..jacobian import LABELS

    codes = np.asarray(labels).reshape(-1)
    return {name: int(np.sum(codes == i)) for i, name in enumerate(LABELS)}


__all__ = ["HorizonResults", "horizon_analysis", "colouring_cost", "COLOURING_PAYS"]
