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
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self, address):
        if not _is_local(address):
            raise RuntimeError(f"network access attempted in a test: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self, address):
        if not _is_local(address):
            raise RuntimeError(f"network access attempted in a test: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: guarded(None, address))
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


@pytest.fixture
def breastmnist_path() -> Path:
    """The real BreastMNIST file from PEPRKIT_DATA_DIR or ../shared/data; skip when absent."""
    for folder in (os.environ.get("PEPRKIT_DATA_DIR"), SHARED_DATA):
        if folder and (Path(folder) / "breastmnist.npz").is_file():
            return Path(folder) / "breastmnist.npz"
    pytest.skip("real BreastMNIST not available (set PEPRKIT_DATA_DIR)")
