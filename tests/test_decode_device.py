"""Choosing the decoder (CPU PyAV or NVDEC) and the worker counts, on a CPU-only machine: NVDEC is replaced by a
fake PyNvVideoCodec that serves known frames, so the selection and the GPU decoder's checks run everywhere."""

import sys
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
from test_preprocess_errors import raises
from test_preprocess_fixtures import write_video
from typer.testing import CliRunner
from video_fixtures import moving_frames

from pcan_serve import workers
from pcan_serve.cli import app
from pcan_serve.errors import BackendUnavailable, FrameTooLarge, InvalidRequest, VideoTooLong
from pcan_serve.http.settings import SettingsError, load_settings
from pcan_serve.preprocess import open_video
from pcan_serve.preprocess.decode_cuda import cuda_decode_unavailable, resolve_decode_device

FRAMES = np.stack(moving_frames(12, (48, 64)))


def fake_nvc(frames: np.ndarray, declared: tuple[int, int] | None = None) -> ModuleType:
    """PyNvVideoCodec's SimpleDecoder API, serving ``frames`` as DLPack tensors; ``declared``: (height, width)."""
    height, width = declared or frames.shape[1:3]

    class SimpleDecoder:
        def __init__(self, path, **options):
            assert options["output_color_type"] == "RGB" and isinstance(path, str)

        def __len__(self):
            return len(frames)

        def get_stream_metadata(self):
            return SimpleNamespace(width=width, height=height, average_fps=30.0, num_frames=len(frames))

        def get_batch_frames_by_index(self, indices):
            return [torch.from_numpy(frames[i]) for i in indices]

    return SimpleNamespace(SimpleDecoder=SimpleDecoder, OutputColorType=SimpleNamespace(RGB="RGB"))


@pytest.fixture
def nvdec(monkeypatch):
    """A GPU with NVDEC, as far as pcan can tell; the process decodes on the CPU again afterwards."""
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", fake_nvc(FRAMES))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return monkeypatch


def test_cpu_is_the_default_and_needs_nothing():
    assert resolve_decode_device("cpu") == "cpu"
    with pytest.raises(InvalidRequest, match="cpu, cuda, auto"):
        resolve_decode_device("gpu")


def test_without_nvdec_auto_decodes_on_the_cpu_and_cuda_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", None)  # import fails
    assert cuda_decode_unavailable().startswith("PyNvVideoCodec cannot be imported")
    assert resolve_decode_device("auto") == "cpu"
    with raises(BackendUnavailable, "decode device cuda: PyNvVideoCodec cannot be imported"):
        resolve_decode_device("cuda")
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", fake_nvc(FRAMES))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cuda_decode_unavailable() == "torch sees no CUDA GPU" and resolve_decode_device("auto") == "cpu"


def test_with_nvdec_files_decode_there_and_bytes_on_the_cpu(nvdec, tmp_path):
    assert resolve_decode_device("auto") == "cuda"
    path = write_video(tmp_path / "v.avi", 12, size=(48, 64))
    with open_video(path, device="cuda") as vid:
        assert vid.device == "cuda" and vid.num_frames == 12 and vid.fps == 30.0
        np.testing.assert_array_equal(vid.decode(np.arange(0, 12, 1)), FRAMES)  # more than one NVDEC batch
    with open_video(path.read_bytes(), device="cuda") as vid:
        assert vid.device == "cpu"  # NVDEC reads files only


def test_nvdec_checks_the_limits(nvdec, tmp_path):
    path = write_video(tmp_path / "v.avi", 12, size=(48, 64))
    with raises(VideoTooLong, "video: 12 frames, at most 10"):
        open_video(path, max_frames=10, device="cuda")
    with raises(FrameTooLarge, "v.avi has 64x48 frames (3072 pixels)"):
        open_video(path, max_pixels=3071, device="cuda")
    nvdec.setitem(sys.modules, "PyNvVideoCodec", fake_nvc(FRAMES, declared=(24, 32)))  # the header lies
    with open_video(path, max_pixels=24 * 32, device="cuda") as vid, raises(FrameTooLarge, "64x48 frames"):
        vid.decode(np.array([0]))


def test_predict_refuses_an_nvdec_it_cannot_use(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", None)
    path = write_video(tmp_path / "v.avi", 12)
    res = CliRunner().invoke(app, ["predict", str(path), "--decode-device", "cuda", "--no-progress"])
    assert res.exit_code == 2 and "decode device cuda" in res.output


def test_worker_defaults_follow_the_cpus(monkeypatch):
    assert workers.default_api_workers(2) == 1 and workers.default_api_workers(32) == 4
    assert workers.default_decode_threads(1, cpus=2) == 2 and workers.default_decode_threads(4, cpus=32) == 8
    assert workers.default_decode_threads(3, cpus=4) == 2  # every CPU has a decode thread
    for name in ("PCAN_API_WORKERS", "PCAN_DECODE_THREADS", "PCAN_PREPROCESS_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(workers, "usable_cpus", lambda: 16)
    settings = load_settings()
    assert (settings.api_workers, settings.decode_threads) == (2, 8)
    monkeypatch.setenv("PCAN_DECODE_THREADS", "3")
    monkeypatch.setenv("PCAN_MAX_PIXELS", "1000")
    settings = load_settings()
    assert settings.decode_threads == 3 and settings.max_pixels == 1000
    monkeypatch.setenv("PCAN_PREPROCESS_THREADS", "2")
    with pytest.raises(SettingsError, match="PCAN_PREPROCESS_THREADS is now PCAN_DECODE_THREADS"):
        load_settings()
