"""peprkit.models: local weights, offline errors, the zoo trains at MedMNIST sizes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

from peprkit import models as M  # noqa: E402

SMALL = "resnet10t"


def _write_weights(folder, name=SMALL, ext="safetensors"):
    """Save a randomly initialised 1000-class timm model as if it were downloaded weights."""
    torch.manual_seed(123)
    source = timm.create_model(name, pretrained=False)
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{ext}"
    if ext == "safetensors":
        safetensors_torch.save_file(state, str(path))
    else:
        torch.save(state, path)
    return path, state


def test_weights_filenames():
    assert M.weights_filenames("vgg13") == ["vgg13.safetensors", "vgg13.pth", "vgg13.bin"]


def test_unknown_model_has_close_matches():
    with pytest.raises(ValueError, match=r"model='resnet81' is not a timm model.*resnet18"):
        M.create_model("resnet81", pretrained=False)


def test_offline_without_weights_raises_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("PEPRKIT_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(M.WeightsNotFoundError) as err:
        M.create_model(SMALL, pretrained=True)
    msg = str(err.value)
    for needed in ("resnet10t.safetensors", "PEPRKIT_WEIGHTS_DIR", "data/weights",
                   "peprkit bundle", "pretrained=False", "online", str(tmp_path)):
        assert needed in msg


def test_hub_unreachable_offline(monkeypatch):
    assert not M.hub_reachable()  # HF_HUB_OFFLINE=1 (conftest)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not M.hub_reachable(timeout_s=0.5)  # the network guard refuses the connection


@pytest.mark.parametrize("ext", ["safetensors", "pth"])
def test_local_weights_load_through_timm(monkeypatch, tmp_path, ext):
    path, state = _write_weights(tmp_path / "w", ext=ext)
    monkeypatch.setenv("PEPRKIT_WEIGHTS_DIR", str(tmp_path / "w"))
    model = M.create_model(SMALL, pretrained=True, num_classes=3, in_chans=3)
    assert model.peprkit_weights == str(path)
    first = "conv1.0.weight"
    assert torch.equal(model.state_dict()[first], state[first])
    assert model.get_classifier().out_features == 3  # new head for 3 classes
    grey = M.create_model(SMALL, pretrained=True, num_classes=2, in_chans=1)
    assert torch.allclose(grey.state_dict()[first], state[first].sum(dim=1, keepdim=True))


def test_weights_found_in_repo_data_weights_is_not_random(monkeypatch, tmp_path):
    monkeypatch.setattr("peprkit._paths.repo_data_dir", lambda: tmp_path / "data")
    _write_weights(tmp_path / "data" / "weights")
    a = M.create_model(SMALL, pretrained=True)
    b = M.create_model(SMALL, pretrained=True)
    assert torch.equal(a.state_dict()["conv1.0.weight"], b.state_dict()["conv1.0.weight"])
    assert M.find_weights(SMALL)[0] == tmp_path / "data" / "weights" / f"{SMALL}.safetensors"


def test_scratch_model_is_labelled():
    model = M.create_model(SMALL, pretrained=False, num_classes=2, in_chans=1)
    assert model.peprkit_weights == "random init"
    assert M.count_params(model) > 1_000_000


def test_zoo_covers_the_requested_range():
    zoo = M.SMALL_ZOO
    assert len(zoo) >= 12 and len(set(zoo)) == len(zoo)
    for name in ("ese_vovnet19b_dw", "resnet18", "mobilenetv3_small_100", "efficientnet_b0",
                 "resnet50", "convnext_tiny", "vgg13"):
        assert name in zoo


@pytest.fixture(scope="module")
def zoo_params():
    return {}


@pytest.mark.parametrize("name", M.SMALL_ZOO)
def test_every_zoo_model_trains_at_28px(name, zoo_params):
    """One forward and backward pass at the smallest input the model takes (batch 2)."""
    torch.manual_seed(0)
    model = M.create_model(name, pretrained=False, num_classes=2, in_chans=1)
    side = M.input_size_for(model, 28, in_chans=1)
    assert side >= 28
    if name in ("ese_vovnet19b_dw", "convnext_atto", "dla46_c", "vgg13"):
        assert side > 28  # known not to take 28 px
    if name.startswith("deit"):
        assert side == 224  # fixed-size ViT
    model.train()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 1, side, side)),
                                             torch.tensor([0, 1]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and torch.isfinite(loss)
    zoo_params[name] = M.count_params(model)


def test_zoo_sizes(zoo_params):
    if len(zoo_params) != len(M.SMALL_ZOO):
        pytest.skip("needs the per-model tests of this module")
    params = sorted(zoo_params.values())
    assert sum(p <= 24.6e6 for p in params) >= 8
    assert params[0] < 1e6 and params[-1] > 100e6


def test_lessons_train_from_scratch_only_models_that_learn_there():
    """The default from-scratch lists of the lessons stay within LEARNS_FROM_SCRATCH (their
    QUICK lists only check mechanics), and every listed model is in the zoo."""
    import json
    import re
    from pathlib import Path

    assert set(M.LEARNS_FROM_SCRATCH) <= set(M.SMALL_ZOO)
    source = Path(__file__).parents[1] / "notebooks" / "source"
    master = json.loads((source / "04_pretraining_and_data.ipynb").read_text())
    params = next("".join(c["source"]) for c in master["cells"]
                  if "MODELS = " in "".join(c["source"]))
    default = re.search(r'MODELS = \(.* if QUICK else (\[.*?\])\)', params).group(1)
    assert set(json.loads(default)) <= set(M.LEARNS_FROM_SCRATCH)
    for lesson in ("05_model_zoo", "07_capstone"):  # they filter their lists offline
        text = (source / f"{lesson}.ipynb").read_text()
        assert "LEARNS_FROM_SCRATCH" in text, lesson
