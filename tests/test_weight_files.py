"""Weight files are read without pickle, and a damaged file is refused, naming it.

``Conv2d.load_state_dict(path)`` reads ``.npz`` archives (``numpy.load(allow_pickle=False)``)
and ``.safetensors`` files.  Every malformed input below (truncated at every kind of
boundary, garbage, a wrong header, a member that would need pickle, values that are not
numbers) must give a ``ValueError`` whose message names the file, leave the layer's
parameters untouched, and never crash or unpickle.
"""

from __future__ import annotations

import ast
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import pyconv

SRC = Path(pyconv.__file__).parent


def _layer(seed=0):
    return pyconv.Conv2d(3, 4, 3, rng=seed)


def _assert_refused(path, match=None):
    """Loading ``path`` raises ValueError naming it, and changes nothing."""
    layer = _layer(1)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    with pytest.raises(ValueError) as info:  # noqa: PT011 - the message is checked below
        layer.load_state_dict(path)
    assert repr(str(path)) in str(info.value), str(info.value)
    if match is not None:
        assert match in str(info.value), str(info.value)
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    return info.value


# --------------------------------------------------------------------------------------
# no pickle anywhere
# --------------------------------------------------------------------------------------


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def test_no_module_can_unpickle():
    """No source file of the package calls torch.load / pickle or allows pickle in np.load."""
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                mod = getattr(node, "module", None) or ""
                if "pickle" in names or mod == "pickle" or "dill" in names:
                    offenders.append(f"{path.name}:{node.lineno} imports pickle")
        for call in _calls(tree):
            f = call.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            if owner == "torch" and name == "load":
                offenders.append(f"{path.name}:{call.lineno} torch.load")
            for kw in call.keywords:
                if kw.arg == "allow_pickle" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    offenders.append(f"{path.name}:{call.lineno} allow_pickle not False")
    assert offenders == []


_UNPICKLED: list[bool] = []


def _mark_unpickled():
    _UNPICKLED.append(True)
    return 0.0


class _Booby:
    """Unpickling this would record it; ``np.save`` pickles object arrays."""

    def __reduce__(self):
        return (_mark_unpickled, ())


@pytest.mark.parametrize("compressed", [False, True])
def test_object_array_is_not_unpickled(tmp_path, compressed):
    path = tmp_path / "pickled.npz"
    weight = np.empty((4, 3, 3, 3), dtype=object)
    weight[...] = _Booby()
    (np.savez_compressed if compressed else np.savez)(
        path, weight=weight, bias=np.zeros(4, np.float32)
    )
    _UNPICKLED.clear()
    _assert_refused(path, match="allow_pickle")
    assert _UNPICKLED == []


# --------------------------------------------------------------------------------------
# .npz
# --------------------------------------------------------------------------------------


@pytest.fixture
def good_npz(tmp_path):
    path = tmp_path / "good.npz"
    np.savez(path, **_layer().state_dict())
    return path


def test_good_npz_loads(good_npz):
    layer = _layer(1)
    assert layer.load_state_dict(good_npz) == ([], [])
    np.testing.assert_array_equal(layer.weight, _layer(0).weight)


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_truncated_anywhere(tmp_path, compressed):
    """Cut the archive at many offsets: in the headers, the data, the central directory."""
    full = tmp_path / "full.npz"
    (np.savez_compressed if compressed else np.savez)(full, **_layer().state_dict())
    data = full.read_bytes()
    cuts = sorted({0, 1, 4, 30, 64, 100, len(data) // 3, len(data) // 2, len(data) - 22})
    cuts += [len(data) - 1]
    for n in cuts:
        cut = tmp_path / f"cut{n}.npz"
        cut.write_bytes(data[:n])
        _assert_refused(cut)


def test_npz_with_corrupt_member_data(tmp_path, good_npz):
    """Flip bytes inside the first member's array data: the zip CRC catches it."""
    data = bytearray(good_npz.read_bytes())
    # the weight's .npy header ends with a newline before the raw float32 data
    start = data.index(b"\n", data.index(b"NUMPY")) + 1
    data[start : start + 16] = b"\xff" * 16
    bad = good_npz.with_name("flipped.npz")
    bad.write_bytes(bytes(data))
    _assert_refused(bad)


def test_npz_garbage(tmp_path):
    bad = tmp_path / "garbage.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(1000))
    _assert_refused(bad)


def test_npz_empty_file(tmp_path):
    bad = tmp_path / "empty.npz"
    bad.write_bytes(b"")
    _assert_refused(bad)


def test_npz_member_with_wrong_npy_header(tmp_path):
    bad = tmp_path / "header.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("weight.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4',  }\n" + b"\0" * 64)
    _assert_refused(bad)


def test_npz_member_that_is_not_npy(tmp_path):
    bad = tmp_path / "text.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("weight", b"0.5 0.5 0.5")
        z.writestr("bias.npy", _npy(np.zeros(4, np.float32)))
    _assert_refused(bad, match="'weight' is not a .npy array")


def test_npz_header_claims_more_data_than_there_is(tmp_path):
    bad = tmp_path / "short.npz"
    npy = _npy(np.zeros((4, 3, 3, 3), np.float32))
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("weight.npy", npy[: len(npy) - 20])  # a valid zip of a short array
        z.writestr("bias.npy", _npy(np.zeros(4, np.float32)))
    _assert_refused(bad)


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        np.full((4, 3, 3, 3), "x"),  # strings
        np.zeros((4, 3, 3, 3), np.complex64),
        np.zeros((4, 3, 3, 3), dtype=[("a", np.float32)]),  # a structured array
        np.zeros((4, 3, 3, 3), "datetime64[s]"),
    ],
    ids=["str", "complex", "record", "datetime"],
)
def test_npz_non_numeric_weight(tmp_path, value):
    path = tmp_path / "typed.npz"
    np.savez(path, weight=value, bias=np.zeros(4, np.float32))
    err = _assert_refused(path, match="'weight' has dtype")
    assert str(value.dtype) in str(err)


def test_non_numeric_value_in_a_mapping():
    layer = _layer(1)
    with pytest.raises(ValueError, match="'bias' has dtype complex128"):
        layer.load_state_dict({"weight": layer.weight, "bias": np.zeros(4, complex)})


def test_integer_weights_are_cast_like_torch(tmp_path):
    """torch's copy_ casts integer tensors into a float parameter; so does pyconv."""
    path = tmp_path / "ints.npz"
    np.savez(path, weight=np.ones((4, 3, 3, 3), np.int16), bias=np.arange(4))
    layer = _layer()
    layer.load_state_dict(path)
    assert layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight, 1.0)
    np.testing.assert_array_equal(layer.bias, [0, 1, 2, 3])


def test_unreadable_path_keeps_its_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        _layer().load_state_dict(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError):
        _layer().load_state_dict(tmp_path)  # a directory, not an archive


# --------------------------------------------------------------------------------------
# .safetensors
# --------------------------------------------------------------------------------------


@pytest.fixture
def st():
    return pytest.importorskip("safetensors.numpy")


@pytest.fixture
def good_st(tmp_path, st):
    path = tmp_path / "good.safetensors"
    st.save_file(dict(_layer().state_dict()), str(path))
    return path


def test_good_safetensors_loads(good_st):
    layer = _layer(1)
    assert layer.load_state_dict(good_st) == ([], [])
    np.testing.assert_array_equal(layer.bias, _layer(0).bias)


def test_safetensors_truncated_anywhere(tmp_path, good_st):
    data = good_st.read_bytes()
    (hlen,) = struct.unpack("<Q", data[:8])
    cuts = sorted({0, 4, 7, 8, 9, 8 + hlen // 2, 8 + hlen, 8 + hlen + 5, len(data) - 1})
    for n in cuts:
        cut = tmp_path / f"cut{n}.safetensors"
        cut.write_bytes(data[:n])
        _assert_refused(cut)


def _safetensors(header: dict | bytes, payload: bytes = b"", hlen: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if hlen is None else hlen) + raw + payload


@pytest.mark.parametrize(
    "blob",
    [
        _safetensors(b"{not json}"),
        _safetensors({"weight": {"dtype": "F32", "shape": [4, 3, 3, 3], "data_offsets": [0, 432]}}),
        _safetensors(  # offsets that disagree with the shape
            {"weight": {"dtype": "F32", "shape": [4, 3, 3, 3], "data_offsets": [0, 8]}},
            b"\0" * 8,
        ),
        _safetensors(  # an unknown dtype
            {"weight": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8
        ),
        _safetensors({}, hlen=1 << 62),  # a header length far beyond the file
        _safetensors(b"[1, 2, 3]"),  # JSON, but not an object
    ],
    ids=["not-json", "no-data", "bad-offsets", "unknown-dtype", "huge-header", "json-list"],
)
def test_safetensors_bad_header(tmp_path, st, blob):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(blob)
    _assert_refused(path)


def test_safetensors_garbage(tmp_path, st):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(np.random.default_rng(1).bytes(500))
    _assert_refused(path)


def test_safetensors_missing_file(tmp_path, st):
    with pytest.raises(FileNotFoundError):
        _layer().load_state_dict(tmp_path / "missing.safetensors")
