"""Shared fixtures. float32 is the default everywhere; tests that need float64 ask for `x64`."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax
import pytest


@pytest.fixture
def x64():
    """Run the test with `jax_enable_x64` switched on, and off again afterwards."""
    with jax.enable_x64(True):
        yield
