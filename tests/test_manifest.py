"""Manifests are read row by row: the items they name (paths relative to the manifest, sidecars), the errors that
stop a command before any item runs, shards and resume over them, and memory that does not grow with the rows."""

import json
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pcan_serve.cli import app
from pcan_serve.errors import InvalidManifest
from pcan_serve.preprocess.items import Item, from_manifest, select


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """clips/a.avi with its sidecar, clips/b_rgb.avi with NTU's sidecar name, c.avi with none."""
    (tmp_path / "clips").mkdir()
    for name in ("clips/a.avi", "clips/a.json", "clips/b_rgb.avi", "clips/b.json", "c.avi"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def _want(folder: Path, elsewhere: Path) -> list[Item]:
    """What the manifest of ``_manifest`` names: the items the list-reading reader made before streaming."""
    return [
        Item(str(folder / "clips/a.avi"), str(folder / "skel/given.json")),  # a skeleton column wins
        Item(str(folder / "clips/a.avi"), str(folder / "clips/a.json")),  # the sidecar
        Item(str(folder / "clips/b_rgb.avi"), str(folder / "clips/b.json")),  # NTU's sidecar name
        Item(str(folder / "c.avi"), None),  # no skeleton anywhere: fails as its own item, later
        Item(str(elsewhere), str(folder / "clips/a.json")),  # an absolute path stays as it is
        Item(str(folder / "clips/a.avi"), str(folder / "clips/a.json")),  # "./" and "//" as Path normalises them
    ]


def _manifest(folder: Path, suffix: str, elsewhere: Path) -> Path:
    rows = [
        ("clips/a.avi", "skel/given.json"),
        ("clips/a.avi", ""),
        ("clips/b_rgb.avi", None),
        ("c.avi", ""),
        (str(elsewhere), "clips/a.json"),
        ("./clips//a.avi", None),
    ]
    path = folder / f"m{suffix}"
    if suffix == ".csv":
        path.write_text("video,skeleton,label\n" + "".join(f"{v},{s or ''},3\n" for v, s in rows))
    else:
        path.write_text("\n".join(json.dumps({"video": v, "skeleton": s}) for v, s in rows) + "\n\n")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_are_the_items_the_manifest_names(folder, tmp_path_factory, suffix):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x.avi"
    manifest = from_manifest(_manifest(folder, suffix, elsewhere))
    want = _want(folder, elsewhere)
    assert len(manifest) == len(want)
    assert list(manifest) == want
    assert list(manifest) == want  # read again from the file: the same rows


def test_shard_and_resume_select_lazily_with_their_count(folder, tmp_path_factory):
    manifest = from_manifest(_manifest(folder, ".csv", tmp_path_factory.mktemp("e") / "x.avi"))
    items = list(manifest)
    odd = select(manifest, (1, 2), set())
    assert list(odd) == items[1::2] and len(odd) == 3
    done = {str(folder / "clips/a.avi")}
    rest = select(manifest, (0, 2), done)
    assert list(rest) == [it for it in items[0::2] if it.video not in done] and len(rest) == 2


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("m.txt", "video\na.avi\n", "must be .csv or .jsonl, got m.txt"),
        ("m.csv", "video,skeleton\na.avi,\n,b.json\n", "m.csv row 2 has no 'video' column"),
        ("m.csv", "clip,skeleton\na.avi,\n", "m.csv row 1 has no 'video' column"),
        ("m.jsonl", '{"video": "a.avi"}\n\n{"video": "b.avi"\n', "m.jsonl line 3 is not JSON"),
        ("m.jsonl", '{"video": "a.avi"}\n["b.avi"]\n', "m.jsonl row 2 has no 'video' column"),
        ("m.csv", "video\n\udcff.avi\n", "m.csv cannot be read"),
    ],
)
def test_a_malformed_manifest_stops_the_command_before_any_item(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(InvalidManifest, match=message):
        from_manifest(path)
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["predict", "--manifest", str(path), "--preset", "tiny", "-o", str(out)])
    assert res.exit_code == 2 and message in " ".join(res.output.split())
    assert not out.exists()  # a bad row after good ones stops the command too, before any item runs


def test_a_missing_manifest_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(app, ["predict", "--manifest", str(tmp_path / "no.csv"), "--preset", "tiny"])
    assert res.exit_code == 2 and "manifest not found" in res.output


def _peak_reading(path: Path, rows: int) -> int:
    """Peak traced bytes while making the manifest (its checking pass) and reading ``rows`` items from it.

    Both manifests are read for the same number of rows: Python 3.11's pathlib interns each path part, and
    CPython's interned-string table is reallocated after so many insertions (a ~4 MB block, bounded by the
    process's live strings, not by the manifest): equal reading makes those alike, so the peaks differ only by
    what depends on the manifest's size.
    """
    tracemalloc.start()
    try:
        read = 0
        while read < rows:
            read += sum(1 for _ in from_manifest(path))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows(tmp_path):
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    for path, rows in ((small, 5_000), (large, 100_000)):
        lines = (f"clips/S{i:06d}_rgb.avi,skeletons/S{i:06d}.json,{i % 60}\n" for i in range(rows))
        path.write_text("video,skeleton,label\n" + "".join(lines))
    small_peak, large_peak = _peak_reading(small, 100_000), _peak_reading(large, 100_000)
    # A reader that keeps its rows needs ~650 bytes a row: 65 MB here, against ~3 MB for 5,000 rows.
    assert large_peak < 1.25 * small_peak + 256 * 1024, (small_peak, large_peak)
