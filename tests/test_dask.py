"""``conv2d`` and ``Conv2d`` on Dask arrays: the in-memory result, tile by tile, anywhere.

Every result is checked against the accuracy contract (:func:`assert_conv_close`, the exact
convolution of the whole input, so a wrong halo, a visible seam or a padding mode applied
at a tile border fails), and its shape, dtype and chunks against the in-memory call and the
documented chunking rule.  Most of the grid runs on Dask's synchronous scheduler (fast,
same code path per task); a module-scoped ``LocalCluster`` (2 worker processes, 1 thread
each, 256 MiB per worker) runs a representative subset, the backend-travels test and the
larger-than-memory example.
"""

from __future__ import annotations

import importlib.util
import pathlib
import pickle
import re
import resource
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import pyconv
from pyconv.testing import assert_conv_close

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "dask_large_image.py"
SHAPE = (2, 4, 13, 11)
MEMORY_LIMIT = 256 * 2**20

# (id, weight shape, conv2d keywords; "bias": False drops the bias)
CALLS = [
    ("k3-p1", (6, 4, 3, 3), {"padding": 1}),
    ("k3-s2-p1", (6, 4, 3, 3), {"stride": 2, "padding": 1}),
    ("k2x3-same", (5, 4, 2, 3), {"padding": "same"}),
    ("k4-same-d2", (3, 4, 4, 4), {"padding": "same", "dilation": 2}),
    ("k3-valid-s3-d2", (3, 4, 3, 3), {"padding": "valid", "stride": 3, "dilation": 2}),
    ("k1-s2", (8, 4, 1, 1), {"stride": 2}),
    ("k5x3-p(2,0)-s(1,2)", (4, 4, 5, 3), {"padding": (2, 0), "stride": (1, 2)}),
    ("k3-p4", (2, 4, 3, 3), {"padding": 4}),  # padding beyond the kernel's reach
    ("k7-d(2,1)-p3", (2, 4, 7, 7), {"padding": 3, "dilation": (2, 1)}),  # halo 12
    ("g2-nobias", (6, 2, 3, 3), {"padding": 1, "groups": 2, "bias": False}),
    ("depthwise-x2-s2", (8, 1, 3, 3), {"padding": 1, "stride": 2, "groups": 4}),
]
CHUNKINGS = {
    "one": SHAPE,
    "even": (1, 2, 5, 4),
    "uneven": ((1, 1), (1, 3), (3, 6, 4), (2, 2, 7)),
    "pixels": (2, 4, 1, 1),  # every chunk smaller than the halo
    "channels": (2, 1, 13, 11),
}
# Conv2d(4, 6, ...) layers for the padding modes; a negative padding crops (torch's F.pad)
LAYERS = [
    ("k3-p1", {"kernel_size": 3, "padding": 1}),
    ("k3-s2-p(2,3)", {"kernel_size": 3, "stride": 2, "padding": (2, 3)}),
    ("k4-same-d2", {"kernel_size": 4, "padding": "same", "dilation": 2}),
    ("k(2,5)-p(1,2)-g2", {"kernel_size": (2, 5), "padding": (1, 2), "groups": 2}),
    ("k3-crop", {"kernel_size": 3, "padding": -1}),
]
MODES = ["zeros", "reflect", "replicate", "circular"]


def _ids(items):
    return [item[0] for item in items]


def _case(rng, wshape, kw, dtype=np.float32, shape=SHAPE):
    kw = dict(kw)
    with_bias = kw.pop("bias", True)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(wshape[0]).astype(dtype) if with_bias else None
    return x, w, b, kw


def _check(y, x, w, b, kw, *, scheduler="sync"):
    """Compute ``y`` and check it against the in-memory call and the contract."""
    ref = pyconv.conv2d(x, w, b, **kw)
    assert isinstance(y, da.Array)
    assert (y.shape, y.dtype) == (ref.shape, ref.dtype)
    got = y.compute(scheduler=scheduler) if isinstance(scheduler, str) else scheduler(y)
    assert isinstance(got, np.ndarray)
    assert (got.shape, got.dtype) == (ref.shape, ref.dtype)
    assert_conv_close(got, x, w, b, **kw)
    return got


# ---- the grid: parameters x chunkings ----------------------------------------------------


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("call", CALLS, ids=_ids(CALLS))
def test_conv2d_grid(call, chunking, rng):
    _, wshape, kw = call
    x, w, b, kw = _case(rng, wshape, kw)
    _check(pyconv.conv2d(da.from_array(x, chunks=CHUNKINGS[chunking]), w, b, **kw), x, w, b, kw)


@pytest.mark.parametrize("call", CALLS, ids=_ids(CALLS))
def test_conv2d_float64(call, rng):
    _, wshape, kw = call
    x, w, b, kw = _case(rng, wshape, kw, np.float64)
    y = pyconv.conv2d(da.from_array(x, chunks=CHUNKINGS["uneven"]), w, b, **kw)
    assert y.dtype == np.float64
    _check(y, x, w, b, kw)


@pytest.mark.parametrize("chunking", ["one", "uneven", "pixels"])
@pytest.mark.parametrize("layer_kw", LAYERS, ids=_ids(LAYERS))
@pytest.mark.parametrize("mode", MODES)
def test_conv2d_layer_padding_modes(mode, layer_kw, chunking, rng):
    x = rng.standard_normal(SHAPE).astype(np.float32)
    layer = pyconv.Conv2d(4, 6, padding_mode=mode, rng=1, **layer_kw[1])
    xd = da.from_array(x, chunks=CHUNKINGS[chunking])
    try:
        ref = layer(x)
    except (ValueError, TypeError) as exc:  # the same error, raised when the graph is built
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            layer(xd)
        return
    y = layer(xd)
    assert (y.shape, y.dtype) == (ref.shape, ref.dtype)
    got = y.compute(scheduler="sync")
    if mode == "zeros":
        call = (x, layer.padding)
    else:  # the mode applies at the image's border only, as pyconv.pad on the whole input
        call = (pyconv.pad(x, layer._reversed_padding_repeated_twice, mode=mode), 0)
    assert_conv_close(
        got, call[0], layer.weight, layer.bias, layer.stride, call[1], layer.dilation, layer.groups
    )


@pytest.mark.parametrize("mode", MODES)
def test_unbatched(mode, rng):
    x = rng.standard_normal(SHAPE[1:]).astype(np.float64)
    layer = pyconv.Conv2d(4, 4, 3, padding=2, padding_mode=mode, dtype=np.float64, rng=2)
    y = layer(da.from_array(x, chunks=(3, 4, 5)))
    assert y.ndim == 3
    assert y.chunks[0] == (4,)
    got = y.compute(scheduler="sync")
    ref = layer(x)
    assert (got.shape, got.dtype) == (ref.shape, ref.dtype)
    padded = x if mode == "zeros" else pyconv.pad(x, (2, 2, 2, 2), mode=mode)
    assert_conv_close(got, padded, layer.weight, layer.bias, 1, 2 if mode == "zeros" else 0)


def test_empty_batch_and_no_channels(rng):
    w = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    x = np.zeros((0, 4, 9, 8), np.float32)
    got = pyconv.conv2d(da.from_array(x), w, b, padding=1).compute(scheduler="sync")
    assert got.shape == (0, 3, 9, 8)
    # no input channels: every output element is the bias
    x0, w0 = np.zeros((2, 0, 9, 8), np.float32), np.zeros((3, 0, 3, 3), np.float32)
    y = pyconv.conv2d(da.from_array(x0, chunks=(1, 0, 4, 4)), w0, b, stride=2)
    np.testing.assert_array_equal(y.compute(scheduler="sync"), pyconv.conv2d(x0, w0, b, stride=2))


def test_threaded_scheduler(rng):
    x, w, b, kw = _case(rng, (6, 2, 3, 3), {"padding": 1, "groups": 2}, shape=(4, 4, 40, 33))
    xd = da.from_array(x, chunks=(1, 2, 9, 7))
    for _ in range(3):
        _check(pyconv.conv2d(xd, w, b, **kw), x, w, b, kw, scheduler="threads")


# ---- output chunks: the documented rule ------------------------------------------------------


def _out_chunks(chunks, wshape, **kw):
    x = da.zeros((2, wshape[1] * kw.get("groups", 1), 13, 11), chunks=chunks, dtype=np.float32)
    return pyconv.conv2d(x, np.zeros(wshape, np.float32), **kw).chunks


def test_chunks_same_padding_keeps_the_input_chunks():
    chunks = ((1, 1), (4,), (3, 6, 4), (2, 2, 7))
    assert _out_chunks(chunks, (5, 4, 3, 3), padding="same") == ((1, 1), (5,), *chunks[2:])
    assert _out_chunks(chunks, (5, 4, 4, 2), padding="same", dilation=3)[2:] == chunks[2:]


def test_chunks_follow_the_window_centre():
    # valid 3x3: output y is centred on input y + 1, so every boundary moves up by one
    got = _out_chunks((2, 4, (5, 5, 3), (4, 7)), (1, 4, 3, 3))
    assert got[2:] == ((4, 5, 2), (3, 6))
    # stride 2, padding 1: output y is centred on input 2 y
    got = _out_chunks((2, 4, (4, 4, 5), (5, 6)), (1, 4, 3, 3), stride=2, padding=1)
    assert got[2:] == ((2, 2, 3), (3, 3))
    # chunks smaller than the stride leave some output chunks empty: they are dropped
    got = _out_chunks((2, 4, 1, 1), (1, 4, 1, 1), stride=3)
    assert got[2:] == ((1,) * 5, (1,) * 4)


def test_chunks_channels():
    # groups=1: one chunk of output channels, whatever the input's channel chunks
    assert _out_chunks((2, (1, 3), 13, 11), (6, 4, 3, 3))[1] == (6,)
    # group-aligned input channel chunks split the output channels; others are merged
    assert _out_chunks((2, (1, 1, 2), 13, 11), (8, 1, 3, 3), groups=4)[1] == (2, 2, 4)
    assert _out_chunks((2, (1, 3), 13, 11), (6, 2, 3, 3), groups=2)[1] == (6,)
    assert _out_chunks((2, (2, 2), 13, 11), (6, 2, 3, 3), groups=2)[1] == (3, 3)


# ---- errors: the in-memory call's, when the graph is built --------------------------------


def _bad_calls():
    f32 = np.float32
    x = np.zeros(SHAPE, f32)
    w = np.zeros((6, 4, 3, 3), f32)
    return [
        ("channels", x, (np.zeros((6, 3, 3, 3), f32),), {}),
        ("kernel-too-large", x, (np.zeros((1, 4, 20, 3), f32),), {}),
        ("int-input", x.astype(np.int32), (w,), {}),
        ("float16-input", x.astype(np.float16), (w,), {}),
        ("mixed-dtypes", x, (w.astype(np.float64),), {}),
        ("same-with-stride", x, (w,), {"padding": "same", "stride": 2}),
        ("bias-shape", x, (w, np.zeros(5, f32)), {}),
        ("rank-2", x[0, 0], (w,), {}),
        ("groups", x, (w,), {"groups": 3}),
        ("negative-padding", x, (w,), {"padding": -1}),
        ("unknown-backend", x, (w,), {"backend": "no-such-backend"}),
    ]


@pytest.mark.parametrize("bad", _bad_calls(), ids=[c[0] for c in _bad_calls()])
def test_errors_are_the_in_memory_errors(bad):
    _, x, args, kw = bad
    with pytest.raises((ValueError, TypeError, ImportError)) as info:
        pyconv.conv2d(x, *args, **kw)
    with pytest.raises(info.type, match=re.escape(str(info.value))):
        pyconv.conv2d(da.from_array(x, chunks=2), *args, **kw)


@pytest.mark.parametrize(
    ("mode", "padding"), [("reflect", 13), ("circular", (14, 1)), ("replicate", -7)]
)
def test_layer_padding_errors_are_the_in_memory_errors(mode, padding):
    layer = pyconv.Conv2d(4, 4, 3, padding=padding, padding_mode=mode)
    x = np.zeros(SHAPE, np.float32)
    with pytest.raises(ValueError, match=r"[Pp]adding|too small") as info:
        layer(x)
    with pytest.raises(ValueError, match=re.escape(str(info.value))):
        layer(da.from_array(x, chunks=3))


def test_unknown_chunk_sizes_are_refused(rng):
    x = da.from_array(rng.standard_normal(SHAPE).astype(np.float32), chunks=1)
    x = x[x[:, 0, 0, 0] > -10]  # boolean indexing: the batch chunks become unknown
    w = np.zeros((1, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        pyconv.conv2d(x, w)
    assert pyconv.conv2d(x.compute_chunk_sizes(), w).shape == (2, 1, 11, 9)


# ---- laziness, weights, the graph, backends ----------------------------------------------


def _boom(block):
    raise RuntimeError("the input was computed")


def test_nothing_is_computed_until_asked(rng):
    x = da.zeros(SHAPE, chunks=5, dtype=np.float32).map_blocks(_boom, dtype=np.float32)
    layer = pyconv.Conv2d(4, 2, 3, padding=1, padding_mode="circular")
    y = layer(x)  # builds the graph only
    with pytest.raises(RuntimeError, match="the input was computed"):
        y.compute(scheduler="sync")


def test_weight_is_a_snapshot_and_may_be_a_dask_array(rng):
    x, w, b, kw = _case(rng, (3, 4, 3, 3), {"padding": 1})
    layer = pyconv.Conv2d(4, 3, 3, padding=1, padding_mode="reflect")
    layer.load_state_dict({"weight": w, "bias": b})
    y = layer(da.from_array(x, chunks=5))
    layer.weight[...] = 0.0  # an in-memory call would have read the weight already
    got = y.compute(scheduler="sync")
    assert_conv_close(got, pyconv.pad(x, (1, 1, 1, 1), mode="reflect"), w, b)
    y = pyconv.conv2d(da.from_array(x, chunks=5), da.from_array(w), da.from_array(b), **kw)
    _check(y, x, w, b, kw)


def test_weight_is_in_the_graph_once(rng):
    x = rng.standard_normal((2, 32, 40, 40)).astype(np.float32)
    w = rng.standard_normal((32, 32, 5, 5)).astype(np.float32)  # 100 kB
    y = pyconv.conv2d(da.from_array(x, chunks=(1, 32, 8, 8)), w, padding=2)
    for graph in (y.__dask_graph__(), dask.optimize(y)[0].__dask_graph__()):
        keys = [k for k in graph if isinstance(k, tuple) and "pyconv-weight-" in str(k[0])]
        assert len(keys) == 1
        outputs = [k for k in graph if isinstance(k, tuple) and k[0] == y.name]
        assert len(outputs) == 2 * 5 * 5
        deps = graph.get_all_dependencies()
        assert all(keys[0] in deps[k] for k in outputs)
        # the 50 tasks do not each carry a copy: the pickled graph holds the weight once
        assert len(pickle.dumps(dict(graph))) < 2 * w.nbytes + x.nbytes + 200_000


def _marker_backend(value):
    """A picklable backend object (a local class: cloudpickle sends it by value)."""

    class Marker:
        name = "marker"
        capabilities = None

        def conv2d(self, x, w, b, spec):
            return np.full((spec.batch, spec.out_channels, *spec.output_size), value, spec.dtype)

    return Marker()


def test_backend_is_chosen_when_the_graph_is_built(rng, monkeypatch):
    x, w, b, kw = _case(rng, (3, 4, 3, 3), {"padding": 1})
    xd = da.from_array(x, chunks=5)
    with pyconv.use_backend(_marker_backend(7.0)):
        y = pyconv.conv2d(xd, w, b, **kw)
    np.testing.assert_array_equal(y.compute(scheduler="sync"), 7.0)  # outside the block
    # a backend chosen by name is loaded by name when the task runs
    with pyconv.use_backend("numpy"):
        y = pyconv.conv2d(xd, w, b, **kw)
    numpy_backend = pyconv._registry.load_backend("numpy")
    monkeypatch.setattr(numpy_backend, "conv2d", _marker_backend(3.0).conv2d)
    np.testing.assert_array_equal(y.compute(scheduler="sync"), 3.0)


@pytest.mark.spawns_python
def test_dask_and_pyconv_dask_are_imported_only_when_a_dask_array_comes():
    code = """
import sys, numpy, pyconv
x, w = numpy.zeros((1, 3, 3)), numpy.zeros((1, 1, 1, 1))
layer = pyconv.Conv2d(1, 1, 1, padding=1, padding_mode="reflect", dtype=numpy.float64)
pyconv.conv2d(x, w, backend="numpy"), pyconv.conv2d(x, w), layer(x)
print("dask" in sys.modules, "pyconv._dask" in sys.modules)
import dask.array as da
pyconv.conv2d(x, w), layer(x)
print("pyconv._dask" in sys.modules)
pyconv.conv2d(da.from_array(x), w)
print("pyconv._dask" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "True"]


# ---- on a distributed cluster --------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    """2 worker processes x 1 thread, 256 MiB each; pyconv at 1 thread per worker."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=MEMORY_LIMIT,
            dashboard_address=":0",
            env={"PYCONV_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        yield client


CLUSTER_CALLS = [CALLS[1], CALLS[3], CALLS[8], CALLS[10]]


@pytest.mark.spawns_python
@pytest.mark.parametrize("chunking", ["uneven", "pixels"])
@pytest.mark.parametrize("call", CLUSTER_CALLS, ids=_ids(CLUSTER_CALLS))
def test_cluster_grid(client, call, chunking, rng):
    _, wshape, kw = call
    x, w, b, kw = _case(rng, wshape, kw)
    y = pyconv.conv2d(da.from_array(x, chunks=CHUNKINGS[chunking]), w, b, **kw)
    _check(y, x, w, b, kw, scheduler=lambda y: client.compute(y, sync=True))


@pytest.mark.spawns_python
@pytest.mark.parametrize("mode", MODES[1:])
def test_cluster_layer_padding_modes(client, mode, rng):
    x = rng.standard_normal(SHAPE).astype(np.float64)
    layer = pyconv.Conv2d(4, 6, 3, stride=2, padding=(2, 3), padding_mode=mode, dtype=np.float64)
    got = client.compute(layer(da.from_array(x, chunks=(1, 2, 4, 3))), sync=True)
    padded = pyconv.pad(x, layer._reversed_padding_repeated_twice, mode=mode)
    assert_conv_close(got, padded, layer.weight, layer.bias, layer.stride)


@pytest.mark.spawns_python
def test_cluster_backend_travels(client, rng):
    x, w, b, kw = _case(rng, (3, 4, 3, 3), {"padding": 1})
    xd = da.from_array(x, chunks=5)
    with pyconv.use_backend(_marker_backend(5.0)):
        y = pyconv.conv2d(xd, w, b, **kw)
    np.testing.assert_array_equal(client.compute(y, sync=True), 5.0)
    with pyconv.use_backend("numpy"):
        y = pyconv.conv2d(xd, w, b, **kw)
    assert_conv_close(client.compute(y, sync=True), x, w, b, **kw)


def _memory_probes():
    """Functions to run on the workers (local ones: cloudpickle sends them by value)."""

    def reset_peak() -> None:
        # restart this process's peak-memory count (Linux; elsewhere: the peak since start)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak() -> int:
        # Linux: VmHWM belongs to the process's own memory map.  Not ru_maxrss: it survives
        # execve, so a worker spawned by a large test process would report the parent's size
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb if sys.platform == "darwin" else kb * 1024  # bytes on macOS

    def spilled(dask_worker) -> int:
        return int(dask_worker.data.spilled_total.disk)

    return reset_peak, peak, spilled


@pytest.mark.slow
def test_larger_than_memory_example(client, tmp_path):
    if not EXAMPLE.exists():
        pytest.skip("examples/ is not next to the tests (installed test run)")
    pytest.importorskip("zarr")
    spec = importlib.util.spec_from_file_location("dask_large_image", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    workers = set(client.scheduler_info()["workers"])
    reset_peak, peak, spilled = _memory_probes()
    client.run(reset_peak)
    stats = example.run(str(tmp_path), size=6144, chunk=512, client=client, check_tiles=6)
    # the image and the result are each larger than both workers' memory together
    assert stats["input_bytes"] > 2 * MEMORY_LIMIT
    assert stats["output_bytes"] > 2 * MEMORY_LIMIT
    assert stats["worst"] <= 1.0, stats  # corners (reflect padding) and interior tiles
    # no worker was killed and restarted, none grew past its limit, little was spilled
    assert set(client.scheduler_info()["workers"]) == workers, "a worker was restarted"
    peaks = client.run(peak)
    assert max(peaks.values()) < MEMORY_LIMIT, peaks
    disk = client.run(spilled)
    assert sum(disk.values()) < stats["input_bytes"] / 10, disk


def _example_module():
    if not EXAMPLE.exists():
        pytest.skip("examples/ is not next to the tests (installed test run)")
    pytest.importorskip("zarr")
    spec = importlib.util.spec_from_file_location("dask_large_image", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


SMALL = ["--threads", "--size", "384", "--chunk", "128", "--channels", "1"]


@pytest.mark.parametrize("fails", [False, True], ids=["ok", "failing"])
def test_example_removes_its_temporary_stores(tmp_path, monkeypatch, capsys, fails):
    example = _example_module()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp makes its folder
    if fails:  # removed however the run ends
        monkeypatch.setattr(example, "run", _raise_after_writing)
        with pytest.raises(RuntimeError, match="interrupted"):
            example.main(SMALL)
    else:
        assert example.main(SMALL) == 0
        assert "tiles checked" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def _raise_after_writing(workdir, **kwargs):
    pathlib.Path(workdir, "input.zarr").mkdir()
    raise RuntimeError("interrupted")


@pytest.mark.parametrize("how", ["--keep", "--out"])
def test_example_keeps_the_stores_when_asked(tmp_path, monkeypatch, capsys, how):
    example = _example_module()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = [how] if how == "--keep" else [how, str(tmp_path / "mine")]
    assert example.main([*SMALL, *args]) == 0
    (kept,) = tmp_path.iterdir()
    assert sorted(p.name for p in kept.iterdir()) == ["input.zarr", "output.zarr"]
    assert f"stores: {kept}" in capsys.readouterr().out
