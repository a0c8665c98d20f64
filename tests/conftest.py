"""Shared fixtures. float32 is the default everywhere; tests that need float64 ask for `x64`."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

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


def pytest_collection_modifyitems(config, items):
    """Group each module's tests for `pytest -n N --dist loadgroup` (see `make test`)."""
    for item in items:
        name = item.module.__name__.rpartition(".")[2]
        if name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(name))
