"""Workshop bundles: build from local sources, verify, resume, and load offline from them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from peprkit import _manifest, _paths, bundle, cli, data, models, paper
from peprkit.bundle import fetchers, pip_target

MODEL = "test_efficientnet"  # a real timm architecture, 0.36M parameters
FILES = ["datasets/breastmnist.npz", "datasets/breastmnist_64.npz", "datasets/dermamnist.npz",
         "datasets/dermamnist_64.npz", f"weights/{MODEL}.safetensors", "results/all_results.csv",
         "results/results-imagenet.csv"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """Local stand-ins for what the online fetcher downloads: synthetic data, weights, CSV."""
    root = tmp_path_factory.mktemp("sources")
    for flag, channels in (("breastmnist", 1), ("dermamnist", 3)):
        for size in (28, 64):
            data.make_synthetic(root / "datasets" / data.dataset_filename(flag, size), flag=flag,
                                n_channels=channels, size=size, n_train=8, seed=size)
    timm = pytest.importorskip("timm")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    (root / "weights").mkdir()
    state = timm.create_model(MODEL, pretrained=False).state_dict()
    safetensors_torch.save_file(state, root / "weights" / f"{MODEL}.safetensors")
    (root / "results").mkdir()
    paper.make_example_results(n_models=3).to_csv(root / "results" / "all_results.csv",
                                                  index=False)
    paper.make_example_imagenet(paper.make_example_results(n_models=3)).to_csv(
        root / "results" / "results-imagenet.csv", index=False)
    return root


def _create(out, sources, **kwargs):
    selection = dict(datasets=["breastmnist", "dermamnist"], sizes=[28, 64], models=[MODEL],
                     paper_results=True, fetcher=bundle.LocalFetcher(sources), progress=False)
    return bundle.create(out, **{**selection, **kwargs})


@pytest.fixture
def made(tmp_path, sources) -> Path:
    out = tmp_path / "bundle"
    _create(out, sources)
    return out


@pytest.fixture
def active(monkeypatch):
    """Let a test call bundle.use(); the variable is restored afterwards."""
    monkeypatch.setenv(_paths.BUNDLE_ENV, "")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flip_byte(path: Path, at: int = 100) -> None:
    raw = bytearray(path.read_bytes())
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def test_manifest_records_every_file_with_checksum_licence_and_versions(made, sources, capsys):
    manifest = json.loads((made / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(FILES)
    for rel, entry in manifest["files"].items():
        assert entry["sha256"] == _sha256(made / rel) == _sha256(sources / rel)
        assert entry["size"] == (made / rel).stat().st_size
    assert manifest["datasets"]["breastmnist"]["licence"] == "CC BY 4.0"
    assert manifest["datasets"]["dermamnist"]["licence"] == "CC BY-NC 4.0"
    assert "Al-Dhabyani" in manifest["datasets"]["breastmnist"]["attribution"]
    assert manifest["files"]["datasets/breastmnist.npz"]["official_file"] is False
    assert set(manifest["versions"]) >= {"peprkit", "medmnist", "timm"}
    assert manifest["total_bytes"] == sum(e["size"] for e in manifest["files"].values())
    readme = (made / "README.md").read_text()
    assert "CC BY-NC 4.0" in readme and "MedMNIST v2" in readme and "peprkit bundle use" in readme
    assert not list(made.rglob("*.part"))


def test_loaders_read_from_the_active_bundle_offline(made, active):
    assert bundle.use(made) == made.resolve()
    loaded = data.load_medmnist("dermamnist", size=64, download=False)
    assert loaded.source == made.resolve() / "datasets" / "dermamnist_64.npz"
    assert loaded.n_channels == 3 and loaded.size == 64
    model = models.create_model(MODEL, pretrained=True, num_classes=2)
    assert model.peprkit_weights == str(made.resolve() / "weights" / f"{MODEL}.safetensors")
    assert paper.load_results(download=False).attrs["source"].startswith(str(made.resolve()))


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "missing", "extra"])
def test_verify_reports_each_problem_and_exits_1(made, damage, capsys):
    target = made / "weights" / f"{MODEL}.safetensors"
    if damage == "flipped byte":
        _flip_byte(target)
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:-10])
    elif damage == "missing":
        target.unlink()
    else:
        (made / "datasets" / "notes.txt").write_text("left by a learner")
    report = bundle.verify(made, progress=False)
    found = {
        "flipped byte": [rel for rel, why in report.corrupt if "SHA-256" in why],
        "truncated": [rel for rel, why in report.corrupt if "bytes, expected" in why],
        "missing": report.missing,
        "extra": report.extra,
    }[damage]
    expected = "datasets/notes.txt" if damage == "extra" else f"weights/{MODEL}.safetensors"
    assert found == [expected] and not report.ok
    assert report.checked == len(FILES) - (damage != "extra")
    assert cli.main(["bundle", "verify", str(made)]) == 1
    assert expected in capsys.readouterr().out


def test_verify_passes_a_sound_bundle(made, capsys):
    assert cli.main(["bundle", "verify", str(made)]) == 0
    assert "OK: every file matches" in capsys.readouterr().out


def test_verify_without_manifest_is_a_problem(tmp_path, capsys):
    (tmp_path / "datasets").mkdir()
    assert cli.main(["bundle", "verify", str(tmp_path)]) == 1
    assert "manifest.json" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"path='.*nope' is not a folder"):
        bundle.verify(tmp_path / "nope")


@pytest.mark.parametrize("damage", ["flipped byte", "truncated"])
def test_a_corrupt_file_is_never_used(made, active, damage):
    target = made / "datasets" / "breastmnist.npz"
    if damage == "flipped byte":
        _flip_byte(target)
    else:
        target.write_bytes(target.read_bytes()[:500])
    bundle.use(made)
    why = "SHA-256 differs" if damage == "flipped byte" else "bytes, the manifest says"
    message = rf"breastmnist\.npz is corrupt: .*{why}.*peprkit bundle create .*bundle verify"
    with pytest.raises(bundle.BundleError, match=message):
        _paths.find_file("breastmnist.npz", "datasets")
    with pytest.raises(bundle.BundleError, match=message):
        data.load_medmnist("breastmnist", download=False)


def test_unlisted_file_and_missing_manifest_are_refused(made, active, tmp_path):
    shutil.copy(made / "datasets" / "breastmnist.npz", made / "datasets" / "pathmnist.npz")
    bundle.use(made)
    with pytest.raises(bundle.BundleError, match=r"pathmnist\.npz is not listed in .*manifest"):
        data.load_medmnist("pathmnist", download=False)
    (made / "manifest.json").unlink()
    with pytest.raises(bundle.BundleError, match=r"has no manifest\.json.*peprkit bundle create"):
        _paths.find_file("breastmnist.npz", "datasets")


def test_check_file_hashes_once_per_process(made, monkeypatch):
    calls = []
    real = _manifest.digest
    monkeypatch.setattr(_manifest, "digest", lambda *a, **k: calls.append(a) or real(*a, **k))
    target = made / "datasets" / "dermamnist_64.npz"
    for _ in range(3):
        assert bundle.check_file(made, target) == target
    assert len(calls) == 1


class _Interrupting(bundle.LocalFetcher):
    """Copies like LocalFetcher, then stops (like Ctrl-C) once ``stop_after`` files are done."""

    def __init__(self, source, stop_after: int | None = None):
        super().__init__(source)
        self.fetched: list[str] = []
        self.stop_after = stop_after

    def _count(self, name: str, dest: Path) -> None:
        if self.stop_after is not None and len(self.fetched) == self.stop_after:
            dest.write_bytes(b"half a download")
            raise KeyboardInterrupt
        self.fetched.append(name)

    def fetch_dataset(self, flag, size, dest):
        self._count(f"{flag}_{size}", dest)
        super().fetch_dataset(flag, size, dest)

    def fetch_weights(self, model, dest):
        self._count(model, dest)
        super().fetch_weights(model, dest)

    def fetch_results(self, dest):
        self._count("results", dest)
        super().fetch_results(dest)

    def fetch_imagenet(self, dest):
        self._count("imagenet", dest)
        super().fetch_imagenet(dest)


def test_interrupted_create_resumes_without_refetching(tmp_path, sources):
    out = tmp_path / "bundle"
    first = _Interrupting(sources, stop_after=2)
    with pytest.raises(KeyboardInterrupt):
        _create(out, sources, fetcher=first)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == sorted(FILES[:2])
    assert (out / "datasets" / "dermamnist.npz.part").is_file()
    report = bundle.verify(out, progress=False)
    assert len(report.unfinished) == len(FILES) - 2
    assert "datasets/dermamnist.npz.part" in report.extra

    second = _Interrupting(sources)
    bundle.create(out, fetcher=second, progress=False)  # the saved selection
    assert len(second.fetched) == len(FILES) - 2
    manifest = json.loads((out / "manifest.json").read_text())
    for rel in FILES:
        assert manifest["files"][rel]["sha256"] == _sha256(sources / rel)
    assert bundle.verify(out, progress=False).ok


def test_rerun_refetches_only_a_corrupt_file(made, sources):
    _flip_byte(made / "results" / "all_results.csv", at=10)
    again = _Interrupting(sources)
    bundle.create(made, fetcher=again, progress=False)
    assert again.fetched == ["results"]
    assert bundle.verify(made, progress=False).ok


def test_cli_create_interrupt_and_extend(tmp_path, sources, monkeypatch, capsys):
    out = tmp_path / "b"
    monkeypatch.setattr(bundle, "default_fetcher", lambda: _Interrupting(sources, stop_after=1))
    argv = ["bundle", "create", str(out), "--datasets", "breastmnist", "--sizes", "28,64"]
    assert cli.main(argv) == 130
    monkeypatch.setattr(bundle, "default_fetcher", lambda: _Interrupting(sources))
    assert cli.main(argv) == 0
    assert cli.main(["bundle", "create", str(out), "--models", MODEL]) == 0
    out_text = capsys.readouterr().out
    assert "Bundle ready" in out_text and "in total" in out_text
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert sorted(files) == sorted(["datasets/breastmnist.npz", "datasets/breastmnist_64.npz",
                                    f"weights/{MODEL}.safetensors"])


def test_cli_dry_run_and_source_copy(tmp_path, sources, capsys):
    out = tmp_path / "b"
    argv = ["bundle", "create", str(out), "--datasets", "breastmnist", "--paper-results",
            "--source", str(sources)]
    assert cli.main([*argv, "--dry-run", "--wheels", "--platforms", "windows",
                     "--pythons", "3.12"]) == 0
    plan = capsys.readouterr().out
    assert "fetch    datasets/breastmnist.npz" in plan
    assert "-m peprkit.bundle windows 3.12 download" in plan and "'numpy>=1.24'" in plan
    assert not out.exists()
    assert cli.main(argv) == 0
    assert cli.main([*argv, "--dry-run"]) == 0
    assert "present  results/all_results.csv" in capsys.readouterr().out


def test_real_breastmnist_packs_verifies_and_loads(tmp_path, breastmnist_path, active):
    out = tmp_path / "bundle"
    manifest = bundle.create(out, datasets=["breastmnist"],
                             fetcher=bundle.LocalFetcher(breastmnist_path.parent), progress=False)
    entry = manifest["files"]["datasets/breastmnist.npz"]
    assert entry["sha256"] == _sha256(breastmnist_path)
    assert entry["official_md5"] == data.expected_md5("breastmnist")
    assert bundle.verify(out, progress=False).ok
    bundle.use(out)
    loaded = data.load_medmnist("breastmnist", download=False)
    assert [len(s) for s in (loaded.train, loaded.val, loaded.test)] == [546, 78, 156]
    assert loaded.license == "CC BY 4.0" and loaded.source.parent.parent == out.resolve()


class _FakePip:
    """Records pip commands and writes the wheel files pip would have downloaded."""

    def __init__(self):
        self.commands: list[list[str]] = []

    def __call__(self, cmd):
        self.commands.append(cmd)
        flag = "--dest" if "download" in cmd else "--wheel-dir"
        folder = Path(cmd[cmd.index(flag) + 1])
        tag = cmd[cmd.index("--platform") + 1] if "--platform" in cmd else "any"
        (folder / f"pkg-1.0-{tag}.whl").write_bytes(tag.encode())


def test_wheelhouse_commands_and_manifest(tmp_path):
    import importlib.metadata as md

    torch_version = md.version("torch").split("+")[0]
    pip = _FakePip()
    out = tmp_path / "b"
    bundle.create(out, wheels=True, platforms=["linux", "macos"], pythons=["3.10", "3.12"],
                  fetcher=bundle.OnlineFetcher(runner=pip), progress=False)
    downloads = [c for c in pip.commands if "download" in c]
    assert len(downloads) == 4  # 2 platforms x 2 Pythons
    assert any("wheel" in c and "--no-deps" in c for c in pip.commands)  # peprkit itself
    for cmd in downloads:
        assert "--only-binary=:all:" in cmd and bundle.TORCH_CPU_INDEX in cmd
        py = cmd[cmd.index("--python-version") + 1]
        assert cmd[cmd.index("--abi") + 1] == "cp" + py.replace(".", "")
        linux = "manylinux_2_28_x86_64" in cmd
        assert cmd[1:5] == ["-m", "peprkit.bundle", "linux" if linux else "macos", py]
        assert ("macosx_14_0_arm64" in cmd) != linux
        assert f"torch=={torch_version}{'+cpu' if linux else ''}" in cmd
        assert any(r.startswith("timm==") for r in cmd) and "jupyterlab>=4.0" in cmd
        assert not any(r.startswith(("pytest", "otter", "nvidia-cu")) for r in cmd)
        assert "nvidia-ml-py>=12.535" in cmd  # NVML is part of `train` (pure Python)
    manifest = json.loads((out / "manifest.json").read_text())
    wheels = sorted(rel for rel, e in manifest["files"].items() if e["kind"] == "wheel")
    assert wheels == ["wheels/pkg-1.0-any.whl", "wheels/pkg-1.0-macosx_14_0_arm64.whl",
                      "wheels/pkg-1.0-manylinux_2_28_x86_64.whl"]
    assert "--no-index --find-links wheels" in (out / "README.md").read_text()
    bundle.create(out, fetcher=bundle.OnlineFetcher(runner=pip), progress=False)
    assert len(pip.commands) == 5  # complete: pip is not run again
    assert bundle.verify(out, progress=False).ok


def test_pip_runs_with_the_target_platforms_markers(monkeypatch):
    from pip._internal.cli import main as pip_main
    from pip._vendor.packaging import markers

    monkeypatch.setattr(markers, "default_environment", markers.default_environment)
    seen = {}

    def fake_pip(args):
        seen["args"] = args
        for spec in ('sys_platform == "win32"', 'python_version < "3.11"',
                     'platform_system == "Linux"'):
            seen[spec] = markers.Marker(spec).evaluate()
        return 0

    monkeypatch.setattr(pip_main, "main", fake_pip)
    assert pip_target.run_pip(["windows", "3.10", "download", "x"]) == 0
    assert seen == {"args": ["download", "x"], 'sys_platform == "win32"': True,
                    'python_version < "3.11"': True, 'platform_system == "Linux"': False}


def test_online_fetcher_moves_downloads_into_place(tmp_path, monkeypatch, sources):
    def fake_medmnist(flag, size, root):
        return shutil.copy(sources / "datasets" / data.dataset_filename(flag, size), root)

    def fake_weights(name, folder):
        return Path(shutil.copy(sources / "weights" / f"{name}.safetensors", folder))

    csv = {url: (sources / "results" / name).read_bytes() for url, name in (
        (paper.PAPER_URL, "all_results.csv"), (paper.IMAGENET_URL, "results-imagenet.csv"))}

    class Response(io.BytesIO):
        @property
        def headers(self):
            return {"Content-Length": str(len(self.getvalue()))}

    monkeypatch.setattr(data, "download_medmnist", fake_medmnist)
    monkeypatch.setattr(models, "download_weights", fake_weights)
    monkeypatch.setattr(fetchers.urllib.request, "urlopen", lambda url, timeout: Response(csv[url]))
    out = tmp_path / "b"
    _create(out, sources, fetcher=bundle.OnlineFetcher())
    assert bundle.verify(out, progress=False).ok
    assert not [p for p in out.rglob("*") if p.name.startswith(".fetch-")]
    monkeypatch.setattr(fetchers.urllib.request, "urlopen",
                        lambda url, timeout: Response(b"<html>rate limited</html>"))
    (out / "results" / "all_results.csv").unlink()
    with pytest.raises(bundle.BundleError, match=r"fetching results/all_results.csv failed.*"
                                                 r"lacks the columns.*run `peprkit bundle create"):
        bundle.create(out, fetcher=bundle.OnlineFetcher(), progress=False)


def test_use_remember_and_forget(made, active, capsys):
    assert cli.main(["bundle", "use", str(made)]) == 0
    saved = json.loads((_paths.config_dir() / "config.json").read_text())
    assert saved["bundle"] == str(made.resolve())
    assert _paths.active_bundle() == made.resolve()
    assert cli.main(["bundle", "use"]) == 0
    assert f"Bundle in use: {made.resolve()}" in capsys.readouterr().out
    assert cli.main(["bundle", "use", "--off"]) == 0
    assert _paths.active_bundle() is None
    with pytest.raises(ValueError, match=r"path='.*datasets' is not a peprkit bundle"):
        bundle.use(made / "datasets")
    assert cli.main(["bundle", "use", str(made / "datasets")]) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(datasets=["breastmnst"]), r"datasets contains 'breastmnst'.*Did you mean: breastmnist"),
    (dict(datasets=["organmnist3d"]), r"datasets contains 'organmnist3d', which is not a 2D"),
    (dict(datasets=["breastmnist"], sizes=[32]), r"sizes contains 32.*28, 64, 128, 224"),
    (dict(datasets=["breastmnist"], sizes=["big"]), r"sizes contains 'big'"),
    (dict(models=["resnet81"]), r"model='resnet81' is not a timm model.*resnet18"),
    (dict(wheels=True, platforms=["mac"]), r"platforms contains 'mac'.*linux, windows, macos"),
    (dict(wheels=True, pythons=["3.9"]), r"pythons contains '3.9'.*3.10"),
    (dict(), r"Nothing to put in the bundle: pass datasets="),
])
def test_bad_selection_raises_value_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bundle.create(tmp_path / "b", **kwargs, progress=False)


def test_bad_out_or_source_raises_value_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"out='.*' is a non-empty folder without manifest"):
        bundle.create(tmp_path, datasets=["breastmnist"])
    with pytest.raises(ValueError, match=r"out='.*notes.txt' is a file"):
        bundle.create(tmp_path / "notes.txt", datasets=["breastmnist"])
    with pytest.raises(ValueError, match=r"source='.*nowhere' is not a folder"):
        bundle.LocalFetcher(tmp_path / "nowhere")
    argv = ["bundle", "create", str(tmp_path / "b"), "--datasets", "breastmnist", "--sizes", "2x"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err  # the command line names its option and the bad value
    assert "--sizes" in err and "'2x'" in err


def test_installed_pip_is_one_the_marker_patch_supports():
    import pip

    low, high = pip_target.SUPPORTED_PIP
    try:
        pip_target.check_pip_version()
    except pip_target.UnsupportedPipError as err:
        pytest.fail(
            f"pip {pip.__version__} is installed, but the wheelhouse's pip patch supports "
            f"pip>={low},<{high} only ({err}). Check peprkit/bundle/pip_target.py against "
            "this pip (test_pip_runs_with_the_target_platforms_markers and a real Windows "
            "download that must add colorama), then widen SUPPORTED_PIP."
        )


@pytest.mark.parametrize("version", ["22.3.1", "27.0"])
def test_unsupported_pip_is_refused_with_a_clear_message(monkeypatch, tmp_path, version):
    import pip
    from pip._internal.cli import main as pip_main

    monkeypatch.setattr(pip, "__version__", version)
    monkeypatch.setattr(pip_main, "main", lambda args: pytest.fail("pip ran"))
    message = rf"pip {version} is outside .*pip>=23\.0,<27.*python -m pip install"
    with pytest.raises(pip_target.UnsupportedPipError, match=message):
        pip_target.run_pip(["windows", "3.10", "download", "x"])
    pip = _FakePip()
    with pytest.raises(bundle.BundleError, match=rf"fetching wheels/ failed: {message}"):
        bundle.create(tmp_path / "b", wheels=True, platforms=["windows"], pythons=["3.11"],
                      fetcher=bundle.OnlineFetcher(runner=pip), progress=False)
    assert pip.commands == []


def test_pip_patch_that_does_not_take_is_refused(monkeypatch):
    from pip._vendor.packaging import markers

    env = pip_target.target_environment("windows", "3.10")
    monkeypatch.setattr(markers, "default_environment", markers.default_environment)
    monkeypatch.setattr(markers.Marker, "evaluate", lambda self, environment=None: False)
    with pytest.raises(pip_target.UnsupportedPipError, match="had no effect"):
        pip_target.patch_markers(env)


def test_wheels_outside_a_source_checkout_download_peprkit(tmp_path, monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(_paths, "repo_data_dir", lambda: tmp_path / "data")
    cmds = bundle.wheel_commands(tmp_path, platforms=["windows"], pythons=["3.11"])
    assert len(cmds) == 1 and cmds[0][1:3] == ["-m", "peprkit.bundle"]  # no `pip wheel .`
    assert f"peprkit=={metadata.version('peprkit')}" in cmds[0]


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_bundle_files_are_readable_by_other_accounts(tmp_path, sources):
    out = tmp_path / "bundle"
    with _umask(0o022):
        _create(out, sources)
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        wanted = 0o755 if path.is_dir() else 0o644
        assert mode == wanted, f"{path.relative_to(out)} has mode {oct(mode)}, not {oct(wanted)}"
    assert {"manifest.json", "README.md"} <= {p.name for p in out.iterdir()}
