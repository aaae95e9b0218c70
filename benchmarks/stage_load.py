"""Load stage (``--stages load``, not in the default set): the service under hostile traffic.

1. ``clients`` x ``per_client`` requests mixing valid uploads (small generated clips; an .npz skeleton whose
   unused member inflates to 512 MiB) with bad ones (corrupt video, malformed JSON, an .npz declaring 10^12
   values, a skeleton over PCAN_MAX_SKELETON_MB): every valid request must get 200 with the answer of its
   own single-request reference (scores within 1e-4), every bad one its 4xx.
2. Each input kind alone: the API process's peak RSS above its level before it.
3. The API process's RSS over ``rss_requests`` requests at concurrency 8, half of them corrupt videos
   (truncated and bit-flipped copies of a valid clip), sampled once a second: recorded and plotted.
"""

import io
import json
import random
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .context import Context

TOLERANCE = 1e-4
SKELETON_MB = 1


def _clip(path: Path, seed: int, frames: int = 40, h: int = 240, w: int = 320) -> bytes:
    """An MJPEG clip of 17 moving dots; returns its skeleton as JSON bytes."""
    import cv2

    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (w, h))
    start, stop = rng.uniform([w * 0.3, h * 0.3], [w * 0.7, h * 0.7], (2, 2))
    offsets = rng.uniform(-1, 1, (17, 2)) * [w / 8, h / 4]
    points = []
    for t in range(frames):
        kp = start + (stop - start) * t / (frames - 1) + offsets * (1 + 0.3 * np.sin(t / 4 + seed))
        img = np.full((h, w, 3), rng.integers(0, 255, 3).tolist(), np.uint8)
        for x, y in kp:
            cv2.circle(img, (int(x), int(y)), 4, (255, 255, 255), -1)
        writer.write(img)
        points.append(kp)
    writer.release()
    kp = np.asarray(points)[None]
    skel = {"keypoint": kp.tolist(), "keypoint_score": np.ones(kp.shape[:3]).tolist(), "img_shape": [h, w]}
    return json.dumps({**skel, "total_frames": frames}).encode()


def _npz(skeleton: bytes, extra: dict[str, bytes], zeros: int = 0) -> bytes:
    """The skeleton as .npz, plus raw members, plus (``zeros`` > 0) an unused member of that many zero bytes."""
    data = json.loads(skeleton)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in ("keypoint", "keypoint_score", "img_shape"):
            npy = io.BytesIO()
            np.save(npy, np.asarray(data[key]), allow_pickle=False)
            zf.writestr(f"{key}.npy", extra.get(f"{key}.npy", npy.getvalue()))
        if zeros:
            with zf.open("unused.npy", "w", force_zip64=True) as f:
                for _ in range(zeros >> 20):
                    f.write(bytes(1 << 20))
    return buf.getvalue()


def _inputs(workdir: Path) -> list[tuple[str, bytes, bytes, int]]:
    """(kind, video, skeleton, expected status); the first case is a valid one."""
    cases = []
    for seed in range(3):
        path = workdir / f"load{seed}.avi"
        skeleton = _clip(path, seed)
        video = path.read_bytes()
        cases += [("good", video, skeleton, 200), ("npz bomb", video, _npz(skeleton, {}, 512 << 20), 200)]
    huge = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    cases += [
        ("corrupt video", b"\0garbage" * 4000, skeleton, 422),
        ("malformed JSON", video, b'{"keypoint": [[[1, 2', 422),
        ("npz 10^12 values", video, _npz(skeleton, {"keypoint.npy": huge.ljust(127) + b"\n"}), 422),
        ("oversize skeleton", video, skeleton[:-1] + b', "pad": "' + b" " * (SKELETON_MB << 20) + b'"}', 413),
    ]
    return cases


def _same(got: dict[str, Any], ref: dict[str, Any]) -> bool:
    lists = [(got["top_k"], ref["top_k"])]
    lists += [(got["branches"][b]["top_k"], ref["branches"][b]["top_k"]) for b in ref["branches"]]
    for g, r in lists:
        if [c["label"] for c in g] != [c["label"] for c in r]:
            return False
        if max(abs(a["score"] - b["score"]) for a, b in zip(g, r, strict=True)) > TOLERANCE:
            return False
    return True


def _post(client: Any, url: str, video: bytes, skeleton: bytes) -> Any:
    files = {"video": ("clip.avi", video), "skeleton": ("skeleton", skeleton)}
    return client.post(f"{url}/predict", files=files, data={"top_k": "3"})


def _mix(client: Any, url: str, cases: list, refs: dict[bytes, dict], clients: int, per_client: int) -> dict:
    """Every client sends ``per_client`` requests drawn from ``cases``; counts what came back."""
    lock = threading.Lock()
    out: dict[str, Any] = {"latency_ms": [], "statuses": {}, "valid_5xx": 0, "wrong_status": 0, "mismatches": 0}

    def one_client(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(per_client):
            kind, video, skeleton, expected = rng.choice(cases)
            start = time.perf_counter()
            try:
                res = _post(client, url, video, skeleton)
                status, body = res.status_code, res.json()
            except Exception as exc:  # a dropped connection counts as a server failure
                status, body = type(exc).__name__, None
            ms = (time.perf_counter() - start) * 1e3
            with lock:
                key = f"{kind}: {status}"
                out["statuses"][key] = out["statuses"].get(key, 0) + 1
                if expected == 200:
                    out["latency_ms"].append(ms)
                    out["valid_5xx"] += not (isinstance(status, int) and status < 500)
                    out["mismatches"] += status == 200 and not _same(body, refs[video])
                out["wrong_status"] += status != expected

    threads = [threading.Thread(target=one_client, args=(seed,)) for seed in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out["requests"] = clients * per_client
    return out


def _rss_run(client: Any, url: str, good: tuple, api: Any, total: int, concurrency: int = 8) -> list[list[float]]:
    """[requests done, API RSS MiB] sampled once a second while ``total`` requests run, half corrupt videos."""
    _, video, skeleton, _ = good
    rng = random.Random(0)
    corrupt = [video[: len(video) * k // 10] for k in (3, 5, 7)]  # truncated
    for _ in range(3):  # bit-flipped past the first frame's header
        flipped = bytearray(video)
        for _ in range(64):
            flipped[rng.randrange(2048, len(flipped))] ^= 0xFF
        corrupt.append(bytes(flipped))
    done = [0]
    lock = threading.Lock()
    jobs = iter(range(total))

    def worker() -> None:
        while True:
            with lock:
                i = next(jobs, None)
            if i is None:
                return
            try:
                _post(client, url, corrupt[i % len(corrupt)] if i % 2 else video, skeleton)
            except Exception:  # counted by the mix phase; here only memory is watched
                pass
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    samples = []
    while any(t.is_alive() for t in threads):
        samples.append([done[0], round(api.memory_info().rss / 2**20, 1)])
        time.sleep(1.0)
    samples.append([done[0], round(api.memory_info().rss / 2**20, 1)])
    return samples


def _peaks(client: Any, url: str, cases: list, api: Any) -> dict[str, float]:
    """Per input kind, sent alone: the API process's peak RSS above its level before, MiB (sampled every 10 ms)."""
    peaks: dict[str, float] = {}
    for kind, video, skeleton, _ in cases:
        if kind in peaks:
            continue
        base = api.memory_info().rss
        top = [base]
        stop = threading.Event()

        def sample(top: list[int] = top, stop: threading.Event = stop) -> None:
            while not stop.is_set():
                top[0] = max(top[0], api.memory_info().rss)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _post(client, url, video, skeleton)
        stop.set()
        sampler.join()
        peaks[kind] = round((top[0] - base) / 2**20, 1)
    return peaks


def _api_process(server_pid: int) -> Any:
    import psutil

    for proc in psutil.Process(server_pid).children(recursive=True):
        cmd = proc.cmdline()
        if "--service-name" in cmd and cmd[cmd.index("--service-name") + 1] == "pcan":
            return proc
    raise RuntimeError("the API worker process was not found")


def run(ctx: Context, clients: int = 16, per_client: int = 200, rss_requests: int = 1000) -> None:
    import httpx

    from benchmarks.local_server import start_server
    from pcan_serve.runtime import Predictor

    cases = _inputs(ctx.model.workdir)
    reference = Predictor.from_path(ctx.model.checkpoint, device="cpu")
    refs = {video: reference.predict(video, skel, top_k=3) for kind, video, skel, _ in cases if kind == "good"}
    refs |= {video: refs[video] for k, video, _, _ in cases if k == "npz bomb"}
    env = ctx.server_env("bentoml-load", PCAN_MAX_SKELETON_MB=str(SKELETON_MB), PCAN_TORCH_THREADS="1")
    server = start_server(
        checkpoint=ctx.model.checkpoint, device="cpu", env=env, log_path=ctx.model.workdir / "load.log"
    )
    with server as srv, httpx.Client(timeout=300, limits=httpx.Limits(max_connections=64)) as client:
        api = _api_process(srv.pid)
        peaks = _peaks(client, srv.url, cases, api)
        ctx.log(f"load: {clients} clients x {per_client} mixed requests")
        mix = _mix(client, srv.url, cases, refs, clients, per_client)
        ctx.log(f"load: API RSS over {rss_requests} requests at concurrency 8, half corrupt")
        rss = _rss_run(client, srv.url, cases[0], api, rss_requests)
    after_100 = next((mib for n, mib in rss if n >= 100), rss[-1][1])
    extra = dict(mix, rss=rss, peak_rss_mib=peaks, rss_growth=round(rss[-1][1] / after_100, 3), concurrency=clients)
    ctx.measured("load", extra.pop("latency_ms"), device="cpu", unit="requests/s", **extra)
