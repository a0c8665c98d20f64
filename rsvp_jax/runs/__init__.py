"""Each command's work, from checked inputs to a finished output folder: what `rsvp <command>` runs.

| name                 | writes                                                                      |
|----------------------|-----------------------------------------------------------------------------|
| `simulate_to_folder` | `trajectory.nc`, `fields.png`, `diagnostics.png` [, animation], `summary.json` |
| `jacobian_to_folder` | tile maps, spectra, `jacobian.nc` [, evolution, label animation], `summary.json` |
| `sweep_report`       | the figures and `summary.json` beside `rj.sweep_to_folder`'s `sweep.nc`       |
| `fit_to_folder`      | `fit.nc`, `params.json`, `fit.png`, `sensitivity.png`, `summary.json`          |
| `compare_to_folder`  | the shared-axes figures and `comparison.md`                                  |
| `report`             | a report as Markdown and as one self-contained HTML page                     |

Every file is written atomically (`rsvp_jax.io`); the command line opens every output folder with
`open_output` (checked, locked, staged and committed as one unit) and checks each run's memory
estimate (`check_memory` of `simulate_memory`, `jacobian_memory`, ...) before any work. `summary_header` opens every summary. The
command line (`rsvp_jax.cli`) parses arguments, calls these and prints; this layer never
imports `llm_bridge` (the LLM side writes its own folder, `llm_bridge.jacobian_to_folder`).
"""

from . import report
from ._compare import compare_to_folder, comparison_markdown, depth_time_sentence
from ._fit import fit_to_folder, history_dataset, observations_from_file, twin_observations
from ._horizons import COLOURING_PAYS, HorizonResults, colouring_cost, horizon_analysis
from ._jacobian import jacobian_to_folder
from ._memory import (MAX_DENSE_ROWS, available_memory, check_dense_blocks, check_memory, fit_memory, gib,
                      jacobian_memory, simulate_memory, state_bytes, sweep_memory)
from ._output import LOCK, MANIFEST, OutputFolder, check_writable, folder_owner, open_output
from ._simulate import simulate_to_folder
from ._summary import Timer, say, stats, summary_header
from ._sweep import sweep_report

__all__ = [
    "simulate_to_folder", "jacobian_to_folder", "sweep_report", "fit_to_folder", "observations_from_file",
    "twin_observations", "history_dataset", "compare_to_folder", "comparison_markdown", "depth_time_sentence", "report",
    "summary_header", "stats", "Timer", "say", "horizon_analysis", "HorizonResults", "colouring_cost",
    "COLOURING_PAYS", "open_output", "OutputFolder", "check_writable", "folder_owner", "MANIFEST", "LOCK",
    "available_memory", "check_memory", "gib", "state_bytes", "simulate_memory", "jacobian_memory", "sweep_memory",
    "fit_memory", "check_dense_blocks", "MAX_DENSE_ROWS",
]
