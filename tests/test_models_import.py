"""`pcan models import` checks a model as `pcan serve` does: an ONNX file whose external data lies outside its
folder is refused (exit 2, with the reason) and nothing reaches the model store."""

import subprocess
import sys
from pathlib import Path

import onnx
from onnx import external_data_helper
from store_helpers import models_import, store_env

from export import OnnxExportOptions, export_verified_onnx


def _escaping_onnx(tiny_ckpt: Path, root: Path, location: str = "../outside.bin") -> Path:
    """The tiny model with its weights moved to ``location`` (relative to ``root/model/``): by default
    ``../outside.bin``, so loading it reads a file outside the model's folder."""
    folder = root / "model"
    folder.mkdir()
    path = folder / "tiny.onnx"
    export_verified_onnx(OnnxExportOptions(checkpoint=tiny_ckpt, output=path, verify=False))
    proto = onnx.load(str(path))
    blob = bytearray()
    for tensor in proto.graph.initializer:
        data = tensor.raw_data or onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(tensor)).raw_data
        external_data_helper.set_external_data(tensor, location, offset=len(blob), length=len(data))
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
        for field in ("float_data", "int32_data", "int64_data", "double_data"):
            tensor.ClearField(field)
        blob += data
    (folder / location).resolve().write_bytes(bytes(blob))
    path.write_bytes(proto.SerializeToString())
    return path


def test_an_onnx_whose_external_data_escapes_its_folder_is_refused(tiny_ckpt, tmp_path):
    model = _escaping_onnx(tiny_ckpt, tmp_path)
    weights = list(onnx.load(str(model), load_external_data=False).graph.initializer)
    assert weights and all(external_data_helper.uses_external_data(t) for t in weights)
    home = tmp_path / "bentoml_home"  # a private model store
    res = models_import(model, home)
    assert res.returncode == 2, res.stdout + res.stderr
    message = " ".join(res.stderr.split())
    assert "cannot load ONNX model tiny.onnx" in message and "escapes model directory" in message, message
    assert not list((home / "models").glob("pcan/*/tiny.onnx")) and not list((home / "models").glob("pcan/*/model*"))


def test_an_onnx_with_its_external_data_beside_it_is_stored_with_it(tiny_ckpt, tmp_path):
    """The weights file travels into the store with the model, so the stored model opens as the original does."""
    model = _escaping_onnx(tiny_ckpt, tmp_path, location="weights.bin")
    home = tmp_path / "bentoml_home"
    res = models_import(model, home)
    assert res.returncode == 0, res.stdout + res.stderr
    [stored] = list((home / "models" / "pcan").glob("*/model.onnx"))
    assert (stored.parent / "weights.bin").read_bytes() == (model.parent / "weights.bin").read_bytes()
    check = "from pcan_serve.runtime import OnnxRuntimeBackend; import sys; OnnxRuntimeBackend(sys.argv[1])"
    assert subprocess.run([sys.executable, "-c", check, str(stored)], env=store_env(home), timeout=120).returncode == 0
