"""The one lookup order for files on disk, and the shared helpers."""

from __future__ import annotations

import json

import pytest

from peprkit import _paths
from peprkit._util import atomic_write, did_you_mean, optional_import


def test_search_order(tmp_path, monkeypatch):
    explicit, bundle, env = tmp_path / "arg", tmp_path / "bundle", tmp_path / "env"
    monkeypatch.setenv("PEPRKIT_BUNDLE", str(bundle))
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(env))
    labels = [label for label, _ in _paths.search_dirs("datasets", explicit)]
    assert labels == ["argument", "bundle (PEPRKIT_BUNDLE)", "PEPRKIT_DATA_DIR", "repo data/",
                      "peprkit cache"]
    folders = dict(_paths.search_dirs("weights", explicit))
    assert folders["bundle (PEPRKIT_BUNDLE)"] == bundle / "weights"


def test_find_file_takes_the_first_hit(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "x.npz").write_bytes(b"1")
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(second))
    found, _ = _paths.find_file("x.npz", "datasets", explicit=first)
    assert found == first / "x.npz"
    found, _ = _paths.find_file("x.npz", "datasets")
    assert found == second / "x.npz"
    missing, searched = _paths.find_file("nope.npz", "datasets")
    assert missing is None
    assert "PEPRKIT_DATA_DIR" in _paths.describe_searched(searched)


def test_bundle_saved_in_config(tmp_path):
    cfg = _paths.config_dir()
    cfg.mkdir(parents=True)
    (cfg / "config.json").write_text(json.dumps({"bundle": str(tmp_path)}))
    assert _paths.active_bundle() == tmp_path


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_did_you_mean_and_optional_import():
    assert "breastmnist" in did_you_mean("brestmnist", ["breastmnist", "pathmnist"])
    assert did_you_mean("zzz", ["breastmnist"]) == ""
    with pytest.raises(ImportError, match=r"pip install 'peprkit\[train\]'"):
        optional_import("no_such_module_xyz", extra="train")


def test_network_guard_refuses_remote_but_not_loopback():
    import socket

    with pytest.raises(RuntimeError, match="network access attempted"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    sock = socket.socket()
    with pytest.raises(RuntimeError, match="network access attempted"):
        sock.connect(("192.0.2.1", 80))
    sock.close()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    socket.create_connection(server.getsockname(), timeout=1).close()
    server.close()
