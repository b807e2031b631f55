"""The one lookup order for files on disk, and the shared helpers."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from peprkit import _paths
from peprkit._util import atomic_write, did_you_mean, optional_import


def test_search_order(tmp_path, monkeypatch):
    explicit, bundle, env = tmp_path / "arg", tmp_path / "bundle", tmp_path / "env"
    monkeypatch.setenv("PEPRKIT_BUNDLE", str(bundle))
    monkeypatch.setenv("PEPRKIT_DATA_DIR", str(env))
    labels = [label for label, _ in _paths.search_dirs("datasets", explicit=explicit)]
    assert labels == ["argument", "bundle (PEPRKIT_BUNDLE)", "PEPRKIT_DATA_DIR", "repo data/",
                      "peprkit cache"]
    folders = dict(_paths.search_dirs("weights", explicit=explicit))
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


def test_source_tree_is_the_checkout_holding_pyproject(tmp_path, monkeypatch):
    assert _paths.source_tree() == Path(__file__).resolve().parents[1]
    monkeypatch.setattr(_paths, "repo_data_dir", lambda: tmp_path / "data")
    assert _paths.source_tree() is None  # e.g. an installed wheel
    (tmp_path / "pyproject.toml").write_text("")
    assert _paths.source_tree() == tmp_path


def test_config_and_cache_dirs_follow_env_then_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("PEPRKIT_CONFIG_DIR")
    monkeypatch.delenv("PEPRKIT_CACHE_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xk"))
    assert _paths.config_dir() == tmp_path / "xc" / "peprkit"
    assert _paths.cache_dir() == tmp_path / "xk" / "peprkit"
    assert _paths.config_file() == tmp_path / "xc" / "peprkit" / "config.json"
    monkeypatch.setenv("PEPRKIT_CACHE_DIR", "~/elsewhere")
    assert _paths.cache_dir() == Path.home() / "elsewhere"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_respects_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        target = atomic_write(tmp_path / "f.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "private.json"
    target.write_text("{}")
    target.chmod(0o600)
    atomic_write(target, '{"a": 1}')
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and target.read_text() == '{"a": 1}'


def test_atomic_write_leaves_no_temporary_file_when_it_fails(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "f.txt", "x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_with_an_explicit_mode_keeps_a_secret_private(tmp_path):
    target = tmp_path / "secret.json"
    target.write_text("{}")  # readable by all (umask 022 or laxer)
    atomic_write(target, '{"secret": 1}', mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
