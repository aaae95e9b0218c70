"""Hostile files made inside the tests, small on disk: .npz archives whose members inflate far beyond their size
or whose headers lie."""

import io
import zipfile

import numpy as np


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz(members: dict[str, bytes], zero_member: tuple[str, int] | None = None) -> bytes:
    """An .npz (zip of .npy) with the given raw members, plus optionally one member of N zero bytes, deflated
    as it is written (the test never holds it uncompressed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if zero_member is not None:
            name, size = zero_member
            with zf.open(name, "w", force_zip64=True) as f:
                f.write(npy_header((size // 8,)))
                block = bytes(1 << 20)
                for _ in range(size >> 20):
                    f.write(block)
    return buf.getvalue()


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
