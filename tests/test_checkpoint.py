"""Every checkpoint kind load_model accepts, and the ones it refuses, with readable reasons."""

import pickle

import numpy as np
import pytest
import torch

from pcan_serve import load_model, save_checkpoint
from pcan_serve.errors import CheckpointError, CheckpointMismatch, UnsafeCheckpoint
from pcan_serve.model import build_pcan
from pcan_serve.model_io.safe_load import HistoryBuffer, safe_torch_load

torch.manual_seed(0)


@pytest.fixture(scope="module")
def tiny():
    return build_pcan("tiny").eval()


def _inputs(n=2):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 8, 64, 64, generator=g), torch.rand(n, 17, 32, 16, 16, generator=g)


def _same_outputs(a, b):
    imgs, hm = _inputs()
    with torch.no_grad():
        oa, ob = a(imgs, hm), b(imgs, hm)
    return all(torch.equal(oa[k], ob[k]) for k in ("rgb", "pose", "fused"))


def test_pcan_checkpoint_round_trip_is_self_describing(tiny, tmp_path):
    path = save_checkpoint(tiny, tmp_path / "pcan.pth", epoch=4)
    model, info = load_model(path)  # no preset: config and class names come from the file
    assert info.kind == "pcan" and info.preset == "tiny" and info.fused_head and info.weights == "trained"
    assert info.class_names == tiny.config.class_names and len(info.class_names) == 60
    assert not model.training
    assert _same_outputs(tiny, model)


def test_mmengine_checkpoint_with_numpy_and_message_hub(tiny, tmp_path):
    """As mmengine's runner writes it on torch 2.x: numpy values in meta, optimizer, message hub."""
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import save_checkpoint as mm_save

    hub = MessageHub.get_instance("pcan-test")
    hub.update_scalar("train/loss", np.float64(1.5))
    hub.update_scalar("train/loss", 1.25)
    hub.update_info("epoch", 3, resumed=True)
    opt = torch.optim.SGD(tiny.parameters(), lr=0.001, momentum=0.9)
    tiny(*_inputs())["rgb"].sum().backward()
    opt.step()
    opt.zero_grad()
    ckpt = {
        "meta": {
            "epoch": 3,
            "iter": 30,
            "seed": np.int64(42),
            "hist": np.arange(3.0),
            "dataset_meta": {"classes": list(tiny.config.class_names)},
        },
        "state_dict": tiny.state_dict(),
        "optimizer": opt.state_dict(),
        "message_hub": hub.state_dict(),
        "param_schedulers": [{"last_epoch": 3, "base_lrs": [0.001]}],
    }
    path = tmp_path / "epoch_3.pth"
    mm_save(ckpt, str(path))
    model, info = load_model(path, preset="tiny")
    assert info.kind == "mmengine" and info.fused_head and info.meta["epoch"] == 3
    assert _same_outputs(tiny, model)
    raw = safe_torch_load(path)
    buffer = raw["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer._log_history, [1.5, 1.25])


def test_getattr_is_only_allowed_for_history_buffer_statistics(tmp_path):
    """mmengine pickles getattr(HistoryBuffer, 'min'); any other getattr is a way to reach eval."""

    class Walk:
        def __reduce__(self):
            return (getattr, (np.ndarray, "__class__"))

    path = tmp_path / "walk.pth"
    torch.save({"state_dict": {}, "x": Walk()}, path)
    with pytest.raises(UnsafeCheckpoint, match="__class__"):
        safe_torch_load(path)


def test_plain_and_ddp_state_dicts(tiny, tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save(tiny.state_dict(), plain)
    ddp = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in tiny.state_dict().items()}}, ddp)
    for path, kind in ((plain, "state_dict"), (ddp, "mmengine")):
        model, info = load_model(path, preset="tiny")
        assert info.kind == kind and info.fused_head
        assert _same_outputs(tiny, model)


def test_official_rgbposeconv3d_checkpoint_reports_missing_fused_head(tiny, tmp_path):
    state = {k: v for k, v in tiny.state_dict().items() if "fused" not in k}
    state["data_preprocessor.preprocessors.imgs.mean"] = torch.zeros(3, 1, 1, 1)  # ignored, not an error
    path = tmp_path / "official.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    model, info = load_model(path, preset="tiny")
    assert not info.fused_head
    assert any("fused head" in n for n in info.notes)
    imgs, hm = _inputs()
    with torch.no_grad():
        assert torch.equal(model(imgs, hm)["rgb"], tiny(imgs, hm)["rgb"])


def test_class_count_follows_checkpoint(tmp_path):
    model = build_pcan("tiny", num_classes=7)
    path = tmp_path / "seven.pth"
    torch.save(model.state_dict(), path)
    loaded, info = load_model(path, preset="tiny")
    assert loaded.cls_head.fc_rgb.out_features == 7 and len(info.class_names) == 7


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_refused_and_names_the_type(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Exploit()}, path)
    with pytest.raises(UnsafeCheckpoint) as err:
        load_model(path, preset="tiny")
    assert "'print'" in str(err.value) and "allowlist" in str(err.value)
    assert "pwned" not in capsys.readouterr().out


def test_raw_pickle_file_is_refused(tmp_path):
    path = tmp_path / "raw.pkl"
    path.write_bytes(pickle.dumps({"x": Exploit()}))
    with pytest.raises(CheckpointError):
        load_model(path, preset="tiny")


def test_wrong_architecture_is_explained(tmp_path):
    full_head = build_pcan("tiny").state_dict()
    full_head["backbone.rgb_path.conv1.conv.weight"] = torch.zeros(64, 3, 1, 7, 7)
    full_head["backbone.extra.weight"] = torch.zeros(1)
    del full_head["backbone.pose_path.layer1.0.conv1.conv.weight"]
    path = tmp_path / "wrong.pth"
    torch.save(full_head, path)
    with pytest.raises(CheckpointMismatch) as err:
        load_model(path, preset="tiny")
    msg = str(err.value)
    assert "backbone.rgb_path.conv1.conv.weight (checkpoint (64, 3, 1, 7, 7), model (8, 3, 1, 7, 7))" in msg
    assert "missing: backbone.pose_path.layer1.0.conv1.conv.weight" in msg
    assert "unknown to PCAN: backbone.extra.weight" in msg


def test_full_checkpoint_into_tiny_preset_is_a_mismatch(tmp_path):
    path = save_checkpoint(build_pcan("tiny"), tmp_path / "t.pth")
    with pytest.raises(CheckpointError, match="'tiny' PCAN, but preset 'ntu60'"):
        load_model(path, preset="ntu60")


def test_missing_file_and_garbage(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_model(junk)


def test_untrained_model():
    model, info = load_model(None, preset="tiny")
    assert info.weights == "untrained" and not info.fused_head
