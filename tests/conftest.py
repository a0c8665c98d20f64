"""Shared fixtures. float32 is the default everywhere; tests that need float64 ask for `x64`."""

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
# One persistent compilation cache for the whole run, set before jax is imported so that the xdist
# workers, the CLI subprocesses and the notebook kernels all share it: they compile many of the same
# programs (the same tiny lattices, SmolLM2 on the same prompt). XLA's own key (the program, its
# options, the jax/XLA versions, the device) decides what is reused; a size limit turns on its file
# lock, so two workers never read an entry half written.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
if importlib.util.find_spec("filelock") is not None:
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 << 30))

import jax
import pytest


@pytest.fixture(autouse=True)
def _restore_x64():
    """A test that switches 64-bit mode on globally (e.g. the CLI's --dtype float64) must not leak it."""
    before = jax.config.read("jax_enable_x64")
    yield
    jax.config.update("jax_enable_x64", before)


@pytest.fixture
def x64():
    """Run the test with `jax_enable_x64` switched on, and off again afterwards."""
    with jax.enable_x64(True):
        yield


#: Modules whose tests share nothing (no module fixtures): spread test by test over the xdist
#: workers. Every other module keeps its tests on one worker, so its module fixtures are built once.
SPREAD = {"test_notebooks"}
#: The longest modules (measured, `--durations`), started first so that no long one is left for the end.
FIRST = ("test_demo", "test_notebooks", "test_llm_attribution", "test_propagator", "test_compare", "test_llm_gguf",
         "test_jacobian_cli", "test_cli_llm", "test_llm_attribution_smollm2", "test_jacobian", "test_integrate")


def _module(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].rpartition("/")[2].removesuffix(".py")


def pytest_collection_modifyitems(config, items):
    """The longest modules first (a stable sort: each module's own order is kept)."""
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(_module(item.nodeid), len(FIRST)))


def pytest_xdist_make_scheduler(config, log):
    """`pytest -n N --dist loadscope` (see `make test`): one work unit per module, except the
    modules in `SPREAD` (one per test), handed out in collection order.

    (xdist's own `loadgroup` marks do nothing under pytest ≥ 9.2, whose node ids cannot be renamed.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if _module(nodeid) in SPREAD else nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False
    return ByModule(config, log)
