"""The BentoML service end to end: a real `bentoml serve` (API + model processes) on a free localhost port,
serving a tiny checkpoint imported with `pcan models import` into a private BENTOML_HOME."""

import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
import torch
import typer
import yaml
from bombs import npy, npy_header, npz
from store_helpers import models_import, store_env
from typer.testing import CliRunner

from benchmarks.local_server import local_server
from pcan_serve.cli.predict import predict as predict_command
from pcan_serve.runtime import PredictOptions, Predictor
from pcan_serve.runtime.timeline import run_timeline

REPO = Path(__file__).resolve().parents[1]
MAX_UPLOAD_MB, MAX_PERSONS, MAX_FRAMES = 2, 2, 120
STARTUP_S = 240


def write_clip(path: Path, seed: int, frames: int = 40, h: int = 96, w: int = 128) -> dict:
    """A small MJPG video of 17 moving dots and its skeleton (the dots' positions); seed varies both."""
    rng = np.random.default_rng(seed)
    bg, fg = rng.integers(0, 255, 3).tolist(), rng.integers(0, 255, 3).tolist()
    offsets = rng.uniform(-1, 1, (17, 2)) * [w / 6, h / 3]
    start, stop = rng.uniform([w * 0.3, h * 0.4], [w * 0.7, h * 0.6], (2, 2))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    points = []
    for t in range(frames):
        kp = start + (stop - start) * t / max(1, frames - 1) + offsets * (1 + 0.3 * np.sin(t / 4 + seed))
        img = np.full((h, w, 3), bg, np.uint8)
        for x, y in kp:
            cv2.circle(img, (int(x), int(y)), 3, fg, -1)
        writer.write(img)
        points.append(kp)
    writer.release()
    kp = np.array(points)[None]
    return {
        "keypoint": kp.tolist(),
        "keypoint_score": np.ones(kp.shape[:3]).tolist(),
        "img_shape": [h, w],
        "total_frames": frames,
    }


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """name -> (video, skeleton): four good clips, plus a long video with a short skeleton."""
    d = tmp_path_factory.mktemp("clips")
    out = {}
    for seed in range(4):
        skel = write_clip(d / f"clip{seed}.avi", seed)
        (d / f"clip{seed}.json").write_text(json.dumps(skel))
        out[f"clip{seed}"] = (d / f"clip{seed}.avi", d / f"clip{seed}.json")
    write_clip(d / "long.avi", 9, frames=MAX_FRAMES + 10, h=32, w=32)
    out["long"] = (d / "long.avi", d / "clip0.json")
    return out


@pytest.fixture(scope="module")
def reference(tiny_ckpt) -> Iterator[Predictor]:
    """Single-request results in this process, on one thread like the server (2 threads crawl on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield Predictor.from_path(tiny_ckpt, device="cpu")
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bentoml_home(tmp_path_factory, tiny_ckpt) -> Path:
    """A private model store holding the tiny checkpoint, imported through `pcan models import`."""
    home = tmp_path_factory.mktemp("bentoml_home")
    res = models_import(tiny_ckpt, home)
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"pcan:\w+", res.stdout.strip()), res.stdout
    assert "tiny, torch fp32, weights trained, fused head true" in res.stderr
    return home


@pytest.fixture(scope="module")
def server(bentoml_home, tmp_path_factory) -> Iterator[str]:
    """`pcan serve` with no model option: the newest stored model, i.e. the imported tiny checkpoint."""
    env = {
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "True",
        "PCAN_TORCH_THREADS": "1",
        "PCAN_DECODE_THREADS": "2",
        "PCAN_MAX_PERSONS": str(MAX_PERSONS),
        "PCAN_MAX_FRAMES": str(MAX_FRAMES),
        "PCAN_MAX_SKELETON_MB": "1",
        "PCAN_MODEL": "",
        "PCAN_MODEL_TAG": "",
        "PCAN_BACKEND": "",
        "PCAN_PRESET": "",
    }  # empty = unset
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    try:
        with local_server(
            device="cpu", env=env, extra_args=["--max-upload-mb", str(MAX_UPLOAD_MB)], startup_s=STARTUP_S, log_path=log
        ) as url:
            yield url
    except RuntimeError as exc:  # did not start
        pytest.fail(str(exc))


def post(url: str, video: Path | bytes, skeleton: Path | bytes, name: str = "clip.avi", **form) -> requests.Response:
    data = video.read_bytes() if isinstance(video, Path) else video
    skel = skeleton.read_bytes() if isinstance(skeleton, Path) else skeleton
    files = {"video": (video.name if isinstance(video, Path) else name, data), "skeleton": ("s.json", skel)}
    return requests.post(f"{url}/predict", files=files, data={k: str(v) for k, v in form.items()}, timeout=120)


def assert_same_prediction(got: dict, ref: dict, tol: float = 1e-5) -> None:
    """Same classes in the same order everywhere, probabilities within ``tol``; timings excluded."""
    assert got["ok"] is True and ref["ok"] is True
    assert got["fusion"] == ref["fusion"] and got["model"] == ref["model"]
    lists = [("top_k", got["top_k"], ref["top_k"]), ("prediction", [got["prediction"]], [ref["prediction"]])]
    assert set(got["branches"]) == set(ref["branches"])
    lists += [(b, got["branches"][b]["top_k"], ref["branches"][b]["top_k"]) for b in ref["branches"]]
    for where, g, r in lists:
        assert [(x["label"], x["name"]) for x in g] == [(x["label"], x["name"]) for x in r], where
        np.testing.assert_allclose([x["score"] for x in g], [x["score"] for x in r], rtol=0, atol=tol, err_msg=where)
    assert set(got["timing_ms"]) == {"decode", "pose", "preprocess", "inference", "total"}
    assert got["skeleton"] == ref["skeleton"]


def test_a_video_without_a_skeleton_is_estimated_like_the_cli(server, tiny_ckpt, sample_video, tmp_path):
    """Video-only: the server estimates the skeleton on the pose branch's sampled frames, as `pcan predict` does
    for a video without a sidecar; both answers say so and agree."""
    video = tmp_path / "alone.avi"
    video.write_bytes(sample_video.read_bytes())
    res = requests.post(f"{server}/predict", files={"video": ("alone.avi", video.read_bytes())}, timeout=120)
    assert res.status_code == 200, res.text
    got = res.json()
    assert got["skeleton"] == {"source": "estimated", "persons": 1, "estimator": "blazepose-full"}
    assert got["timing_ms"]["pose"] > 0
    ref = Predictor.from_path(tiny_ckpt, device="cpu").predict(video, None).to_dict()
    assert_same_prediction(got, ref, tol=1e-4)


def test_a_video_only_timeline_is_estimated_like_the_cli(server, tiny_ckpt, sample_video, tmp_path):
    """A timeline without a skeleton: planned before admission, the skeleton estimated after it on the decode
    threads; the windows and the whole-video answer agree with `run_timeline` in this process."""
    video = tmp_path / "alone.avi"
    video.write_bytes(sample_video.read_bytes())
    form = {"window": "1", "stride": "0.5", "top_k": "3"}
    files = {"video": ("alone.avi", video.read_bytes())}
    res = requests.post(f"{server}/predict", files=files, data=form, timeout=120)
    assert res.status_code == 200, res.text
    got = res.json()
    assert got["skeleton"]["source"] == "estimated" and got["timing_ms"]["pose"] > 0
    options = PredictOptions(top_k=3, window=1.0, stride=0.5)
    ref = run_timeline(Predictor.from_path(tiny_ckpt, device="cpu"), video, None, options, "alone.avi").to_dict()
    assert_same_prediction(got, ref, tol=1e-4)
    assert [(w["start"], w["end"]) for w in got["timeline"]] == [(w["start"], w["end"]) for w in ref["timeline"]]
    for g, r in zip(got["timeline"], ref["timeline"], strict=True):
        assert [c["label"] for c in g["top_k"]] == [c["label"] for c in r["top_k"]]


def test_ntu_sample_matches_pcan_predict(server, tiny_ckpt, sample_video, sample_skeleton, tmp_path):
    res = post(server, sample_video, sample_skeleton, top_k=5)
    assert res.status_code == 200, res.text
    got = res.json()
    cli = typer.Typer()
    cli.command()(predict_command)
    out = tmp_path / "cli.jsonl"
    run = CliRunner().invoke(
        cli,
        [
            str(sample_video),
            "--skeleton",
            str(sample_skeleton),
            "--checkpoint",
            str(tiny_ckpt),
            "--device",
            "cpu",
            "--top-k",
            "5",
            "--output",
            str(out),
            "--no-progress",
        ],
        catch_exceptions=False,
    )
    assert run.exit_code == 0, run.output
    [ref] = [json.loads(line) for line in out.read_text().splitlines()]
    assert got["video"] == sample_video.name and ref["video"] == str(sample_video)
    assert got["model"] == {
        "name": "pcan-tiny",
        "backend": "torch",
        "weights": "trained",
        "fused_head": True,
        "calibrated": False,
    }
    assert len(got["top_k"]) == 5 and set(got["branches"]) == {"rgb", "pose", "fused"}
    assert_same_prediction(got, ref)


def _chunked(parts: list[bytes]) -> Iterator[bytes]:
    yield from parts  # a generator body: requests sends it chunked, without Content-Length


def test_bad_inputs_get_typed_errors_and_server_stays_correct(server, clips, reference, sample_skeleton):
    video, skel_path = clips["clip0"]
    good, skel = video.read_bytes(), json.loads(skel_path.read_text())
    T = skel["total_frames"]

    def skeleton(**changes) -> bytes:
        return json.dumps({**skel, **changes}).encode()

    members = {k + ".npy": npy(np.array(skel[k])) for k in ("keypoint", "keypoint_score", "img_shape")}
    huge_npz = npz({**members, "keypoint.npy": npy_header((10**12,)) + bytes(64)})
    pickled_npz = npz({**members, "keypoint.npy": npy_header((2,), "|O") + b"\x80\x04N."})
    nan_kp = np.array(skel["keypoint"])
    nan_kp[0, 3, 5, 0] = np.nan
    big = b"\0" * (MAX_UPLOAD_MB * 2**20 + 2**19)
    boundary = b"--pcanboundary"
    multipart_head = boundary + b'\r\nContent-Disposition: form-data; name="video"; filename="x.avi"\r\n\r\n'
    cases = {
        "corrupt video": (dict(video=b"\x00garbage" * 500, skeleton=skel_path), 422, "InvalidVideo"),
        "empty video": (dict(video=b"", skeleton=skel_path), 422, "EmptyVideo"),
        "truncated video": (dict(video=good[: len(good) // 2], skeleton=skel_path), 422, "SkeletonVideoMismatch"),
        "empty skeleton": (dict(video=video, skeleton=b""), 422, "InvalidSkeleton"),
        "malformed skeleton JSON": (dict(video=video, skeleton=b'{"keypoint": [[[1, 2'), 422, "InvalidSkeleton"),
        "wrong joint count": (
            dict(
                video=video,
                skeleton=skeleton(
                    keypoint=np.array(skel["keypoint"])[:, :, :5].tolist(),
                    keypoint_score=np.array(skel["keypoint_score"])[:, :, :5].tolist(),
                ),
            ),
            422,
            "InvalidSkeleton",
        ),
        "non-finite numbers": (dict(video=video, skeleton=skeleton(keypoint=nan_kp.tolist())), 422, "InvalidSkeleton"),
        "too many persons": (
            dict(
                video=video,
                skeleton=skeleton(
                    keypoint=skel["keypoint"] * (MAX_PERSONS + 1),
                    keypoint_score=skel["keypoint_score"] * (MAX_PERSONS + 1),
                ),
            ),
            422,
            "TooManyPersons",
        ),
        "frame-count mismatch": (
            dict(
                video=video,
                skeleton=skeleton(
                    keypoint=[skel["keypoint"][0][: T // 2]],
                    keypoint_score=[skel["keypoint_score"][0][: T // 2]],
                    total_frames=T // 2,
                ),
            ),
            422,
            "SkeletonVideoMismatch",
        ),
        "video too long": (dict(video=clips["long"][0], skeleton=skel_path), 413, "VideoTooLong"),
        "top_k 0": (dict(video=video, skeleton=skel_path, top_k=0), 400, "InvalidRequest"),
        "top_k 61": (dict(video=video, skeleton=skel_path, top_k=61), 400, "InvalidRequest"),
        "top_k not a number": (dict(video=video, skeleton=skel_path, top_k="five"), 400, "InvalidRequest"),
        "bad fusion": (dict(video=video, skeleton=skel_path, fusion="average"), 400, "InvalidRequest"),
        "num_clips 11": (dict(video=video, skeleton=skel_path, num_clips=11), 422, "TooManyClips"),
        "num_clips 0": (dict(video=video, skeleton=skel_path, num_clips=0), 400, "InvalidRequest"),
        "top_k unicode digit": (dict(video=video, skeleton=skel_path, top_k="\u0665"), 400, "InvalidRequest"),
        "top_k underscore": (dict(video=video, skeleton=skel_path, top_k="5_0"), 400, "InvalidRequest"),
        "npz declaring 10^12 values": (dict(video=video, skeleton=huge_npz), 422, "InvalidSkeleton"),
        "npz with pickled objects": (dict(video=video, skeleton=pickled_npz), 422, "InvalidSkeleton"),
        "skeleton over PCAN_MAX_SKELETON_MB": (
            dict(video=video, skeleton=skeleton(pad=" " * 2**20)),
            413,
            "PayloadTooLarge",
        ),
        "5000-digit integer": (
            dict(
                video=video,
                skeleton=skeleton(total_frames=0).replace(b'"total_frames": 0', b'"total_frames": ' + b"9" * 5000),
            ),
            422,
            "InvalidSkeleton",
        ),
    }
    for name, (kwargs, status, kind) in cases.items():
        res = post(server, **kwargs)
        assert (res.status_code, res.json()["error"]["type"]) == (status, kind), f"{name}: {res.text}"
        assert res.json()["error"]["message"], name

    raw = {  # bodies the form helper cannot make: (body, headers, status, type)
        "oversize upload": (None, None, 413, "PayloadTooLarge"),
        "oversize chunked upload": (
            _chunked([multipart_head, big, b"\r\n" + boundary + b"--\r\n"]),
            {"Content-Type": "multipart/form-data; boundary=pcanboundary"},
            413,
            "PayloadTooLarge",
        ),
        "JSON body": (
            json.dumps({"video": "/etc/passwd", "skeleton": str(sample_skeleton)}),
            {"Content-Type": "application/json"},
            400,
            "InvalidRequest",
        ),
        "pickle body": (b"\x80\x04N.", {"Content-Type": "application/vnd.bentoml+pickle"}, 400, "InvalidRequest"),
        "no content type": (b"hello", {"Content-Type": ""}, 400, "InvalidRequest"),
        "multipart without boundary": (b"x", {"Content-Type": "multipart/form-data"}, 400, "InvalidRequest"),
    }
    for name, (body, headers, status, kind) in raw.items():
        if body is None:
            res = requests.post(
                f"{server}/predict", files={"video": ("big.avi", big), "skeleton": ("s.json", b"{}")}, timeout=60
            )
        else:
            res = requests.post(f"{server}/predict", data=body, headers=headers, timeout=60)
        assert (res.status_code, res.json()["error"]["type"]) == (status, kind), f"{name}: {res.text}"

    form_cases = {  # a server path or a URL as text must never be read or fetched
        "video path as text": (
            {"video": (None, "/etc/passwd"), "skeleton": ("s.json", skel_path.read_bytes())},
            400,
            "InvalidRequest",
        ),
        "skeleton URL as text": (
            {"video": ("v.avi", good), "skeleton": (None, f"{server}/metrics")},
            400,
            "InvalidRequest",
        ),
        "missing video": ({"skeleton": ("s.json", skel_path.read_bytes())}, 400, "MissingInput"),
        "unknown field": (
            {"video": ("v.avi", good), "skeleton": ("s.json", skel_path.read_bytes()), "path": (None, "/etc")},
            400,
            "InvalidRequest",
        ),
        "two videos": (
            {"video": ("v.avi", good), "skeleton": ("s.json", skel_path.read_bytes()), "x": ("w.avi", good)},
            400,
            "InvalidRequest",
        ),
    }
    for name, (files, status, kind) in form_cases.items():
        res = requests.post(f"{server}/predict", files=files, timeout=60)
        assert (res.status_code, res.json()["error"]["type"]) == (status, kind), f"{name}: {res.text}"

    bomb = npz(members, zero_member=("unused.npy", 1 << 29))  # 512 MiB of zeros in a 0.5 MiB upload: never inflated
    res = post(server, video, bomb, top_k=3)
    assert res.status_code == 200, res.text
    assert_same_prediction(res.json(), reference.predict(video, skel_path, top_k=3).to_dict())

    assert requests.get(f"{server}/livez", timeout=5).status_code == 200
    assert requests.get(f"{server}/readyz", timeout=5).status_code == 200
    res = post(server, video, skel_path, name="../../etc/clip0.avi", top_k=3)
    assert res.status_code == 200, res.text
    assert res.json()["video"] == "clip0.avi"  # the upload's base name, nothing of its path
    assert_same_prediction(res.json(), reference.predict(video, skel_path, top_k=3).to_dict())


def _truncated(ref: dict, k: int) -> dict:
    """``ref`` as a request with top_k=k would get it (top-k lists are prefixes of one ordering)."""
    branches = {b: {"top_k": v["top_k"][:k]} for b, v in ref["branches"].items()}
    return {**ref, "top_k": ref["top_k"][:k], "branches": branches}


def test_concurrent_clients_get_their_own_results(server, clips, reference):
    """8 clients x 10 requests over four different clips and options; every answer matches a single-request
    reference for its own input, every clip ran exactly once, and batches of several clips ran along the way."""
    jobs = [(f"clip{(c + i) % 4}", 1 + (c * 10 + i) % 7, 1 + (i % 3 == 2)) for c in range(8) for i in range(10)]
    refs = {(clip, n): reference.predict(*clips[clip], top_k=7, num_clips=n).to_dict() for clip, _, n in set(jobs)}
    served = [ref["top_k"][0]["score"] for (clip, n), ref in refs.items() if n == 1]
    assert min(np.diff(sorted(served))) > 1e-4  # the clips are told apart by their scores
    failures: list[str] = []

    def client(c: int) -> None:
        with requests.Session() as session:
            for i in range(10):
                clip, k, n = jobs[c * 10 + i]
                video, skel = clips[clip]
                files = {"video": (video.name, video.read_bytes()), "skeleton": (skel.name, skel.read_bytes())}
                res = session.post(
                    f"{server}/predict", files=files, timeout=180, data={"top_k": str(k), "num_clips": str(n)}
                )
                try:
                    assert res.status_code == 200, res.text
                    assert res.json()["video"] == video.name
                    assert_same_prediction(res.json(), _truncated(refs[clip, n], k))
                except AssertionError as exc:
                    failures.append(f"client {c} request {i} {clip} top_k={k} num_clips={n}: {exc}")

    before = _batch_stats(server)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, "\n".join(failures[:5])
    count, total = (a - b for a, b in zip(_batch_stats(server), before, strict=True))
    clips = sum(n for _, _, n in jobs)
    assert count >= 1 and total == clips and total > count, f"{count} batches of {total} clips for {clips}"


def _batch_stats(url: str) -> tuple[float, float]:
    """(batches, clips) the model service's batcher has run so far."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    count, clips = (re.search(rf"^pcan_model_batch_clips_{kind} (\S+)$", text, re.M)[1] for kind in ("count", "sum"))
    return float(count), float(clips)


def test_metrics_have_stage_histograms(server, clips):
    assert post(server, *clips["clip1"]).status_code == 200
    text = requests.get(f"{server}/metrics", timeout=10).text
    for stage in ("decode", "preprocess", "inference", "total"):
        [count] = re.findall(rf'^pcan_stage_duration_seconds_count\{{stage="{stage}"\}} (\S+)', text, re.M)
        assert float(count) >= 1, stage


def test_openapi_documents_the_form(server):
    spec = requests.get(f"{server}/docs.json", timeout=10).json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(body["properties"]) == {"video", "skeleton", *PredictOptions.model_fields}  # the request contract
    assert set(PredictOptions.model_fields) >= {"top_k", "fusion", "num_clips", "window", "stride"}
    assert body["required"] == ["video"]  # without a skeleton the server estimates one


def test_openapi_is_pcans_own(server):
    spec = requests.get(f"{server}/docs.json", timeout=10).json()
    assert spec["info"]["title"] == "pcan" and spec["info"]["version"] == metadata.version("pcan")
    assert "NTU RGB+D" in spec["info"]["description"] and "BentoML Slack" not in spec["info"]["description"]
    post = spec["paths"]["/predict"]["post"]
    assert set(post["responses"]) == {"200", "400", "404", "405", "408", "413", "422", "503", "504"}
    for status, answer in post["responses"].items():
        ref = answer["content"]["application/json"]["schema"]["$ref"]
        assert ref == ("#/components/schemas/Prediction" if status == "200" else "#/components/schemas/ErrorResponse")
    assert "encoding" not in post["requestBody"]["content"]["multipart/form-data"]
    error = spec["components"]["schemas"]["ErrorResponse"]["properties"]["error"]["$ref"].rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][error]["properties"]) == {"type", "message"}
    assert post["responses"]["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}


@pytest.mark.parametrize(
    ("method", "path", "status", "kind"),
    [("get", "/nope", 404, "NotFound"), ("get", "/predict", 405, "MethodNotAllowed")],
)
def test_unknown_routes_and_methods_answer_the_error_shape(server, method, path, status, kind):
    res = requests.request(method, f"{server}{path}", timeout=10)
    assert res.status_code == status
    error = res.json()["error"]
    assert error["type"] == kind and path in error["message"]


def test_docs_is_the_swagger_ui_and_root_the_demo_page(server):
    docs = requests.get(f"{server}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    assert "./static_content/swagger-ui-bundle.js" in docs.text  # relative to /docs: BentoML's own route
    assert requests.get(f"{server}/static_content/swagger-ui-bundle.js", timeout=10).status_code == 200
    res = requests.get(f"{server}/docs/", timeout=10, allow_redirects=False)
    assert res.status_code in (302, 307) and res.headers["location"] == "/docs"
    page = requests.get(f"{server}/", timeout=10)
    assert page.status_code == 200 and '<form id="form">' in page.text and 'href="/docs"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_bentoml_build_includes_the_model(bentoml_home, tmp_path):
    env = store_env(bentoml_home)
    for key in ("PCAN_MODEL", "PCAN_MODEL_TAG", "PCAN_BACKEND"):
        env.pop(key, None)
    build = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag", str(REPO)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    tag = re.findall(r"__tag__:(\S+)", build.stdout)[-1]
    exported = tmp_path / "pcan.bento"  # the archive `bentoml containerize` / a deployment gets
    subprocess.run(
        [sys.executable, "-m", "bentoml", "export", tag, str(exported)],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with tarfile.open(exported) as tar:
        names = tar.getnames()
        bento = yaml.safe_load(tar.extractfile(next(n for n in names if n.endswith("bento.yaml"))))
    services = {s["name"]: s for s in bento["services"]}
    assert set(services) == {"pcan", "pcan-model"}
    [model] = services["pcan-model"]["models"]
    [imported] = [p.name for p in (bentoml_home / "models" / "pcan").iterdir() if p.is_dir()]
    assert model["tag"] == f"pcan:{imported}"
    assert any(n.endswith(f"models/pcan/{imported}/model.pth") for n in names), names
    assert any(n.endswith("src/pcan_serve/http/service.py") for n in names)
    assert not [n for n in names if "/src/tests/" in n or "/src/benchmarks/" in n or "launch" in n]  # no test code
    for page in ("index.html", "demo.css", "demo.js"):  # the demo page ships with the service
        assert any(n.endswith(f"src/pcan_serve/http/static/{page}") for n in names), page


def test_without_an_imported_model_serves_untrained_weights(tmp_path):
    """A fresh machine (empty model store, no PCAN_MODEL): the model service loads untrained weights of the
    preset (ntu60 unless PCAN_PRESET says otherwise; tiny here for speed) and says so."""
    script = (
        "import json, pcan_serve.http.service as s; assert s.STORE_TAG is None; "
        "print(json.dumps(s.PCANModel().describe()))"
    )
    env = {
        **os.environ,
        "BENTOML_HOME": str(tmp_path / "empty"),
        "PCAN_PRESET": "tiny",
        "PCAN_DEVICE": "cpu",
        "PCAN_TORCH_THREADS": "1",
        "BENTOML_DO_NOT_TRACK": "True",
    }
    for key in ("PCAN_MODEL", "PCAN_MODEL_TAG", "PCAN_BACKEND"):
        env.pop(key, None)
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads(res.stdout.strip().splitlines()[-1])
    meta = json.loads(info["description"])
    assert (meta["weights"], meta["config"]["name"], meta["fused_head"]) == ("untrained", "tiny", False)
    assert (info["backend"], info["device"], info["source"]) == ("torch", "cpu", "untrained tiny weights")


def test_untrained_answers_agree_between_http_and_cli(sample_video, sample_skeleton, tmp_path):
    """Untrained weights are seeded: a server and the CLI, two processes, give the same answer."""
    env = {"BENTOML_HOME": str(tmp_path / "empty"), "BENTOML_DO_NOT_TRACK": "True", "PCAN_TORCH_THREADS": "1"}
    with local_server(preset="tiny", device="cpu", env=env, startup_s=STARTUP_S) as url:
        files = {"video": sample_video.open("rb"), "skeleton": sample_skeleton.open("rb")}
        http = requests.post(f"{url}/predict", files=files, data={"top_k": "5"}, timeout=120).json()
    out = tmp_path / "cli.jsonl"
    cli = typer.Typer()
    cli.command()(predict_command)
    res = CliRunner().invoke(
        cli, [str(sample_video), "--preset", "tiny", "--top-k", "5", "-o", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    cli = json.loads(out.read_text())
    assert http["model"]["weights"] == cli["model"]["weights"] == "untrained"
    for branch in ("rgb", "pose"):
        got, ref = http["branches"][branch]["top_k"], cli["branches"][branch]["top_k"]
        assert [c["label"] for c in got] == [c["label"] for c in ref]
        np.testing.assert_allclose([c["score"] for c in got], [c["score"] for c in ref], rtol=0, atol=1e-5)
