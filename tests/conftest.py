"""Test-wide safety: no network, no user config, headless plots, seeded randomness."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else ""
    return host in ("127.0.0.1", "::1", "localhost", "")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any attempt to open a non-loopback connection (tests never touch the network)."""

    def refuse_remote(real, address_at):
        def guarded(*args, **kwargs):
            address = args[address_at]
            if not _is_local(address):
                raise RuntimeError(f"network access attempted in a test: {address!r}")
            return real(*args, **kwargs)

        return guarded

    for owner, name, address_at in ((socket.socket, "connect", 1),
                                    (socket.socket, "connect_ex", 1),
                                    (socket, "create_connection", 0)):
        monkeypatch.setattr(owner, name, refuse_remote(getattr(owner, name), address_at))
    yield


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's config, cache and bundle; hub libraries offline."""
    home = tmp_path_factory.mktemp("peprkit_home")
    monkeypatch.setenv("PEPRKIT_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("PEPRKIT_CACHE_DIR", str(home / "cache"))
    monkeypatch.delenv("PEPRKIT_BUNDLE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield


#: Seeds the hidden tests draw their inputs from: 3 in every run, 17 more under ``-m slow``.
DRAWN_SEEDS = [pytest.param(range(3), id="seeds0-2"),
               pytest.param(range(3, 20), id="seeds3-19", marks=pytest.mark.slow)]


@pytest.fixture(params=DRAWN_SEEDS)
def drawn_seeds(request) -> range:
    """Seeds of the grading draws a hidden test must pass (or fail) on."""
    return request.param


@pytest.fixture(scope="session")
def real_data_dir() -> Path | None:
    """The folder holding the real BreastMNIST: PEPRKIT_DATA_DIR or ../shared/data, else None."""
    for folder in (os.environ.get("PEPRKIT_DATA_DIR"), SHARED_DATA):
        if folder and (Path(folder) / "breastmnist.npz").is_file():
            return Path(folder)
    return None


@pytest.fixture
def breastmnist_path(real_data_dir) -> Path:
    """The real BreastMNIST file; the test is skipped when it is absent."""
    if real_data_dir is None:
        pytest.skip("real BreastMNIST not available (set PEPRKIT_DATA_DIR)")
    return real_data_dir / "breastmnist.npz"
