"""The demo page at GET /, used as a person would: Debian's chromium (headless, driven by Playwright) against a
real `pcan serve`, uploading the NTU sample and comparing what the page shows with the API's answer."""

import json
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import requests

from benchmarks.local_server import local_server
from pcan_serve.preprocess import open_video
from pcan_serve.runtime import PredictOptions, Predictor
from pcan_serve.runtime.timeline import run_timeline

pytestmark = pytest.mark.slow  # the quick loop (-m 'not slow') leaves it out; make test runs it

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSWER_MS = 180_000  # a first request on two busy cores


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}): `make browser` installs it (as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tiny_ckpt, tmp_path_factory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("bentoml_home")
    env = {
        "BENTOML_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "True",
        "PCAN_TORCH_THREADS": "1",
        "PCAN_DECODE_THREADS": "1",
    }
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    try:
        with local_server(checkpoint=tiny_ckpt, device="cpu", env=env, startup_s=240, log_path=log) as url:
            yield url
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def sample_mp4(sample_video, tmp_path_factory) -> Path:
    """The NTU sample as H.264 MP4 at 960x540: a video the browser can decode itself."""
    out = tmp_path_factory.mktemp("mp4") / "S001C001P001R001A001.mp4"
    with open_video(sample_video) as video, av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        for i, frame in video.frames(np.arange(video.num_frames)):
            f = av.VideoFrame.from_ndarray(frame[::2, ::2].copy(), format="rgb24")
            f.pts = i
            container.mux(stream.encode(f))
        container.mux(stream.encode(None))
    return out


def api(server: str, video: Path, skeleton: bytes, **form) -> requests.Response:
    files = {"video": (video.name, video.read_bytes()), "skeleton": ("skeleton.json", skeleton)}
    return requests.post(f"{server}/predict", files=files, data={k: str(v) for k, v in form.items()}, timeout=180)


def upload(page, server: str, video: Path, skeleton: Path | None) -> None:
    page.goto(f"{server}/")
    page.set_input_files("#video", str(video))
    if skeleton is not None:
        page.set_input_files("#skeleton", str(skeleton))
    page.click("#submit")


def shown_answer(page) -> dict:
    """What the page shows: the top class, and per row the label and each branch's text."""
    page.wait_for_selector("#result:not([hidden])", timeout=ANSWER_MS)
    rows = page.eval_on_selector_all(
        "#classes tbody tr",
        "rows => rows.map(r => ({label: +r.dataset.label, name: r.cells[0].textContent,"
        " bars: Object.fromEntries([...r.querySelectorAll('.bar')].map(b => [b.dataset.branch, b.textContent]))}))",
    )
    heads = page.eval_on_selector_all("#class-head th[data-branch]", "hs => hs.map(h => h.dataset.branch)")
    tops = page.eval_on_selector_all("#branch-tops b", "bs => bs.map(b => [b.dataset.branch, +b.dataset.label])")
    return {"top1": int(page.get_attribute("#top1", "data-label")), "rows": rows, "heads": heads, "tops": tops}


def pct(score: float) -> str:
    return f"{100 * score:.1f} %"


def check_same_answer(shown: dict, answer: dict) -> None:
    assert shown["top1"] == answer["top_k"][0]["label"]
    assert shown["heads"] == ["served", "rgb", "pose", "fused"]  # the three branches beside the served fusion
    assert shown["tops"] == [[b, answer["branches"][b]["top_k"][0]["label"]] for b in ("rgb", "pose", "fused")]
    assert [(r["label"], r["name"]) for r in shown["rows"]] == [(c["label"], c["name"]) for c in answer["top_k"]]
    for row, served in zip(shown["rows"], answer["top_k"], strict=True):
        assert row["bars"]["served"] == pct(served["score"])
        for branch in ("rgb", "pose", "fused"):
            hit = [c["score"] for c in answer["branches"][branch]["top_k"] if c["label"] == row["label"]]
            assert row["bars"][branch] == (pct(hit[0]) if hit else "–"), (branch, row)


def canvas_pixels(page, index: int, points: list[tuple[float, float]]) -> dict:
    """RGB at the given canvas points, and how many distinct colours the canvas holds."""
    return page.evaluate(
        """([i, points]) => {
            const c = document.querySelectorAll('#canvases canvas')[i], ctx = c.getContext('2d');
            const data = ctx.getImageData(0, 0, c.width, c.height).data, colours = new Set();
            for (let p = 0; p < data.length; p += 4 * 7) colours.add(data[p] << 16 | data[p + 1] << 8 | data[p + 2]);
            const at = points.map(([x, y]) => [...ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data]);
            return {width: c.width, colours: colours.size, at};
        }""",
        [index, points],
    )


def test_ntu_sample_page_shows_the_apis_answer(server, browser, sample_video, sample_skeleton, tmp_path):
    answer = api(server, sample_video, sample_skeleton.read_bytes(), top_k=5)
    assert answer.status_code == 200, answer.text
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    upload(page, server, sample_video, sample_skeleton)
    check_same_answer(shown_answer(page), answer.json())
    assert page.inner_text("#timings").count("ms") == 6  # decode, pose, preprocess, inference, total, round trip
    assert page.inner_text("#skeleton-source") == "Skeleton as uploaded: 1 person(s)."
    page.wait_for_selector("#frames:not([hidden])", timeout=30_000)
    assert "cannot decode" in page.inner_text("#frames-note")  # an AVI: the skeleton on blank frames
    skeleton = json.loads(sample_skeleton.read_text())
    nose = skeleton["keypoint"][0][0][0]  # frame 0, joint 0, in 1920x1080 pixels; the canvas is 480 wide
    pixels = canvas_pixels(page, 0, [(nose[0] / 4, nose[1] / 4)])
    assert pixels["width"] == 480 and pixels["at"][0][:3] == [255, 64, 64]  # the first person's colour
    page.screenshot(path=tmp_path / "demo_avi.png", full_page=True)


def test_mp4_page_draws_the_skeleton_over_video_frames(server, browser, sample_mp4, sample_skeleton, tmp_path):
    answer = api(server, sample_mp4, sample_skeleton.read_bytes(), top_k=5)
    assert answer.status_code == 200, answer.text
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    upload(page, server, sample_mp4, sample_skeleton)
    check_same_answer(shown_answer(page), answer.json())
    page.wait_for_selector("#frames:not([hidden])", timeout=30_000)
    assert page.inner_text("#frames-note") == ""
    assert page.locator("#canvases canvas").count() == 4
    skeleton = json.loads(sample_skeleton.read_text())
    last = skeleton["keypoint"][0][-1]
    pixels = canvas_pixels(page, 3, [(last[5][0] / 4, last[5][1] / 4), (10, 10)])
    assert pixels["colours"] > 500  # a video frame, not a blank canvas
    assert pixels["at"][0][:3] == [255, 64, 64] and pixels["at"][1][:3] != [255, 64, 64]
    page.screenshot(path=tmp_path / "demo.png", full_page=True)


def test_failed_request_shows_the_message(server, browser, sample_video, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"keypoint": [[[[1, 2]] * 16]]}))  # 16 joints instead of 17
    answer = api(server, sample_video, bad.read_bytes())
    assert answer.status_code == 422
    error = answer.json()["error"]
    page = browser.new_page()
    upload(page, server, sample_video, bad)
    page.wait_for_selector("#error:not([hidden])", timeout=ANSWER_MS)
    assert page.inner_text("#error-message") == error["message"]
    assert error["type"] in page.inner_text("#error-type") and "HTTP 422" in page.inner_text("#error-type")
    assert page.locator("#result").is_hidden()

    page.screenshot(path=tmp_path / "error.png")


def test_without_a_skeleton_the_page_shows_the_estimated_one(server, browser, sample_video):
    page = browser.new_page()
    upload(page, server, sample_video, None)  # no skeleton chosen: the server estimates it
    shown = shown_answer(page)
    assert shown["rows"] and page.inner_text("#skeleton-source") == "Skeleton estimated by blazepose-full: 1 person(s)."
    assert page.locator("#error").is_hidden()


def test_timeline_strip(server, browser, tiny_ckpt, sample_video, sample_skeleton):
    """A window and stride typed into the page reach the server, whose timeline the page draws; the same windows
    as the library's timeline of the same model."""
    options = PredictOptions(window=1.0, stride=0.5)
    answer = run_timeline(Predictor.from_path(tiny_ckpt, device="cpu"), sample_video, sample_skeleton, options, "x")
    answer = answer.to_dict()
    page = browser.new_page()
    page.goto(f"{server}/")
    page.set_input_files("#video", str(sample_video))
    page.set_input_files("#skeleton", str(sample_skeleton))
    page.fill("#window", "1")
    page.fill("#stride", "0.5")
    page.click("#submit")
    page.wait_for_selector("#timeline:not([hidden])", timeout=30_000)
    segments = page.eval_on_selector_all(
        "#strip .seg", "s => s.map(e => ({label: +e.dataset.label, width: parseFloat(e.style.width)}))"
    )
    assert [s["label"] for s in segments] == [w["top_k"][0]["label"] for w in answer["timeline"]]
    assert sum(s["width"] for s in segments) == pytest.approx(100.0)
    assert page.inner_text("#axis-end") == f"{answer['timeline'][-1]['end']:.1f} s"
