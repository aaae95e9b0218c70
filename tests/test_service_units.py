"""Service helpers without a server: model selection, upload names, `pcan serve` environment."""

from pathlib import Path

import numpy as np
import pytest

from pcan_serve.cli.serve import serve_env
from pcan_serve.errors import BackendUnavailable
from pcan_serve.http.form import sanitize_filename
from pcan_serve.http.settings import UNTRAINED, ServiceSettings, SettingsError, load_settings
from pcan_serve.http.source import served_source
from pcan_serve.model_io import ModelSource
from pcan_serve.runtime import Predictor, Prepared


def settings(monkeypatch, **env: str) -> ServiceSettings:
    for key in ("PCAN_MODEL", "PCAN_MODEL_TAG", "PCAN_BACKEND", "PCAN_PRESET"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


def test_model_source_order(monkeypatch, tmp_path):
    assert served_source(settings(monkeypatch), None) == ModelSource(preset="ntu60")  # fresh machine: untrained
    assert served_source(settings(monkeypatch, PCAN_PRESET="tiny"), None) == ModelSource(preset="tiny")
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    s = settings(monkeypatch, PCAN_MODEL=str(onnx), PCAN_BACKEND="onnxruntime")
    assert served_source(s, None) == ModelSource(path=onnx)
    s = settings(monkeypatch, PCAN_MODEL=UNTRAINED, PCAN_PRESET="tiny")
    assert served_source(s, None) == ModelSource(preset="tiny")


@pytest.mark.parametrize(
    ("model", "backend"), [("a.pth", "onnxruntime"), ("a.onnx", "tensorrt"), (None, "onnxruntime")]
)
def test_backend_must_fit_the_model_file(monkeypatch, tmp_path, model, backend):
    if model is not None:
        (tmp_path / model).write_bytes(b"")
    path = str(tmp_path / model) if model else UNTRAINED
    with pytest.raises(BackendUnavailable, match=f"PCAN_BACKEND={backend}"):
        served_source(settings(monkeypatch, PCAN_MODEL=path, PCAN_BACKEND=backend), None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PCAN_MAX_UPLOAD_MB": "lots"}, "PCAN_MAX_UPLOAD_MB: .*ASCII digits"),
        ({"PCAN_MAX_FRAMES": "5_0"}, "PCAN_MAX_FRAMES: .*ASCII digits"),
        ({"PCAN_MAX_CLIPS": "\u0665"}, "PCAN_MAX_CLIPS: .*ASCII digits"),
        ({"PCAN_MAX_PERSONS": "0"}, "PCAN_MAX_PERSONS: .*greater than or equal to 1"),
        ({"PCAN_BACKEND": "tflite"}, "PCAN_BACKEND"),
        ({"PCAN_DEVICE": "tpu"}, "PCAN_DEVICE"),
    ],
)
def test_bad_settings_are_named(monkeypatch, env, message):
    env = {k: v.encode().decode("unicode_escape") for k, v in env.items()}
    with pytest.raises(SettingsError, match=message):
        settings(monkeypatch, **env)


def test_settings_become_the_request_limits(monkeypatch):
    limits = settings(monkeypatch, PCAN_MAX_CLIPS="3", PCAN_MAX_SKELETON_MB="2", PCAN_MAX_PIXELS="1000").limits
    assert (limits.max_clips, limits.max_skeleton_bytes, limits.max_pixels) == (3, 2 * 2**20, 1000)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.avi", "clip.avi"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\v 1.mp4", "v_1.mp4"),
        ("..", "video"),
        ("", "video"),
        (None, "video"),
        ("a\r\nb\x00.avi", "a__b_.avi"),
        (".hidden.mp4", "hidden.mp4"),
    ],
)
def test_upload_names_are_base_names_of_safe_characters(name, expected):
    assert sanitize_filename(name) == expected


def test_serve_env_picks_one_model_source():
    assert serve_env(ModelSource(path=Path("m.pth")))["PCAN_MODEL"] == str(Path("m.pth").resolve())
    assert serve_env(ModelSource(tag="pcan:abc")) == {"PCAN_MODEL_TAG": "pcan:abc"}
    assert serve_env(ModelSource(preset="tiny")) == {"PCAN_MODEL": UNTRAINED, "PCAN_PRESET": "tiny"}
    assert serve_env(ModelSource()) == {}
    assert serve_env(ModelSource(), max_upload_mb=5, api_workers=None) == {"PCAN_MAX_UPLOAD_MB": "5"}


def test_an_item_that_breaks_the_batch_fails_alone():
    predictor = Predictor.from_path(None, preset="tiny", device="cpu")
    p = predictor.config.preprocess
    rng = np.random.default_rng(0)

    def item(name: str, heatmap_size: int, clips: int = 1) -> Prepared:
        imgs = rng.normal(size=(clips, 3, p.clip_len_rgb, p.resize, p.resize)).astype(np.float32)
        heatmaps = rng.random((clips, 17, p.clip_len_pose, heatmap_size, heatmap_size), dtype=np.float32)
        return Prepared(name, imgs, heatmaps)

    good_a, bad, good_b = item("a", p.heatmap_size), item("bad", p.heatmap_size + 3), item("b", p.heatmap_size, 2)
    out = predictor.infer_isolated([good_a, bad, good_b])
    assert [isinstance(o, Exception) for o in out] == [False, True, False]
    for got, alone in ((out[0], good_a), (out[2], good_b)):
        [ref] = predictor.infer_isolated([alone])
        assert list(got) == list(ref) == ["rgb", "pose"]
        for branch in got:
            np.testing.assert_allclose(got[branch], ref[branch], rtol=0, atol=1e-6)
