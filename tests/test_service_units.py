"""Service helpers without a server: model selection, upload names, `pcan serve` environment."""

from pathlib import Path

import numpy as np
import pytest

from pcan_serve.cli.serve import serve_env
from pcan_serve.errors import BackendUnavailable
from pcan_serve.http.form import sanitize_filename
from pcan_serve.http.service import infer_isolated
from pcan_serve.http.settings import UNTRAINED, ServiceSettings
from pcan_serve.http.source import model_source as _model_source
from pcan_serve.runtime import Predictor, Prepared


def settings(monkeypatch, **env: str) -> ServiceSettings:
    for key in ("PCAN_MODEL", "PCAN_MODEL_TAG", "PCAN_BACKEND", "PCAN_PRESET"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return ServiceSettings.from_env()


def test_model_source_order(monkeypatch):
    assert _model_source(settings(monkeypatch), None) == (None, "ntu60")  # fresh machine: untrained ntu60
    assert _model_source(settings(monkeypatch, PCAN_PRESET="tiny"), None) == (None, "tiny")
    s = settings(monkeypatch, PCAN_MODEL="/models/m.onnx", PCAN_BACKEND="onnxruntime")
    assert _model_source(s, None) == ("/models/m.onnx", None)
    assert _model_source(settings(monkeypatch, PCAN_MODEL=UNTRAINED, PCAN_PRESET="tiny"), None) == (None, "tiny")


@pytest.mark.parametrize(
    ("model", "backend"), [("/m/a.pth", "onnxruntime"), ("/m/a.onnx", "tensorrt"), (UNTRAINED, "onnxruntime")]
)
def test_backend_must_fit_the_model_file(monkeypatch, model, backend):
    with pytest.raises(BackendUnavailable, match=f"PCAN_BACKEND={backend}"):
        _model_source(settings(monkeypatch, PCAN_MODEL=model, PCAN_BACKEND=backend), None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PCAN_MAX_UPLOAD_MB": "lots"}, "integer"),
        ({"PCAN_MAX_PERSONS": "0"}, ">= 1"),
        ({"PCAN_BACKEND": "tflite"}, "PCAN_BACKEND"),
    ],
)
def test_bad_settings_are_named(monkeypatch, env, message):
    with pytest.raises(ValueError, match=message):
        settings(monkeypatch, **env)


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
    assert serve_env(Path("m.pth"))["PCAN_MODEL"] == str(Path("m.pth").resolve())
    assert serve_env(tag="pcan:abc") == {"PCAN_MODEL_TAG": "pcan:abc"}
    assert serve_env(preset="tiny") == {"PCAN_MODEL": UNTRAINED, "PCAN_PRESET": "tiny"}
    assert serve_env() == {}
    assert serve_env(max_upload_mb=5, api_workers=None) == {"PCAN_MAX_UPLOAD_MB": "5"}


def test_an_item_that_breaks_the_batch_fails_alone():
    predictor = Predictor.from_path(None, preset="tiny", device="cpu")
    p = predictor.config.preprocess
    rng = np.random.default_rng(0)

    def item(name: str, heatmap_size: int, clips: int = 1) -> Prepared:
        imgs = rng.normal(size=(clips, 3, p.clip_len_rgb, p.resize, p.resize)).astype(np.float32)
        heatmaps = rng.random((clips, 17, p.clip_len_pose, heatmap_size, heatmap_size), dtype=np.float32)
        return Prepared(name, imgs, heatmaps)

    good_a, bad, good_b = item("a", p.heatmap_size), item("bad", p.heatmap_size + 3), item("b", p.heatmap_size, 2)
    out = infer_isolated(predictor, [good_a, bad, good_b])
    assert [o.error is None for o in out] == [True, False, True] and "Error" in out[1].error
    for got, alone in ((out[0], good_a), (out[2], good_b)):
        [ref] = infer_isolated(predictor, [alone])
        assert got.branches == ref.branches == ["rgb", "pose"]
        np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=1e-6)
