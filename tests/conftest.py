"""Shared fixtures: a fresh artifact store per test, one Prefect test server per session."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty artifact store under a temporary root (also exported as CTRL_HOME)."""
    from storage import Store

    root = tmp_path / "ctrl-home"
    monkeypatch.setenv("CTRL_HOME", str(root))
    return Store(str(root))


@pytest.fixture(scope="session")
def prefect_server():
    """One real, temporary Prefect server for the whole test session (~9 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        # the harness sets the URL in Prefect's settings context, not in os.environ
        yield PREFECT_API_URL.value()


@pytest.fixture
def cpu_hog():
    """Every CPU busy for the test's duration (one spinning process per core, at normal priority):
    kill-and-resume verdicts must not depend on load."""
    import multiprocessing
    import os

    ctx = multiprocessing.get_context("spawn")
    hogs = [ctx.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 1)]
    for h in hogs:
        h.start()
    yield len(hogs)
    for h in hogs:
        h.kill()
        h.join()


def _spin():
    while True:
        pass


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op torch thread per test: on the 2-core CI box with sandbox workers and servers
    running, torch's thread pool spins and a tiny-model step gets 10-20x slower. Restored after."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
