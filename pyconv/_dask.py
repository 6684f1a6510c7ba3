"""conv2d on Dask arrays: a lazy result, computed tile by tile on any Dask scheduler.

:func:`pyconv.conv2d` and :class:`pyconv.Conv2d` come here when the input is a
``dask.array.Array``.  Nothing is computed when the graph is built: the call is validated
on a zero-memory stand-in of the input (so every error is the in-memory call's error) and
a graph is returned in which each output block is one task.

How a task finds its data
-------------------------
Each output block reads the rows and columns of the *padded* input its windows cover:
``[y0 * stride, (y1 - 1) * stride + dilation * (k - 1) + 1)`` for output rows
``[y0, y1)``, so every output block starts on a stride boundary.  Those padded positions
are mapped back to input positions by the padding mode (zeros outside for ``padding=``,
mirrored / clamped / wrapped for a layer's ``padding_mode``), so the padding exists only at
the global border and tile seams are invisible.  The task receives the input blocks that
hold those positions (however small the chunks, however many blocks the halo spans, and
the far side of the image for ``circular``): a block it reads mostly, whole; of the others
only the strips it reads, cut by one small task per input block that serves all its
neighbours, so that only strips travel between workers.  The task copies the pieces into
its padded slab once and convolves it.  No rechunking is ever needed, so every valid call
has a plan; only unknown chunk sizes (``nan``) are refused.

Output chunks
-------------
batch
    The input's batch chunks, unchanged.
out channels
    One chunk per run of input-channel chunks between boundaries that fall on a group
    boundary (a multiple of ``C_in / groups``): ``groups=1`` gives one chunk of all
    output channels (the input channels are merged in each task); a depthwise layer with
    one input channel per chunk gives ``C_out / groups`` output channels per chunk.
height, width
    Output row ``y`` belongs to the chunk of the input row under its window's centre,
    ``y * stride - pad_before + (dilation * (k - 1)) // 2`` (clamped to the image); chunks
    left empty (input chunks smaller than the stride) are dropped.  So ``padding='same'``
    keeps the input's spatial chunks exactly.

Weight, bias and backend
------------------------
The weight and bias are copied when the graph is built (later in-place changes to a
layer's weight do not reach a result already built, as for an in-memory call) and put in
the graph once, under one key every task depends on: a distributed scheduler sends them to
each worker once, not with every task.  The backend is resolved when the graph is built,
with the usual selection rules and errors, and its name (with its options) travels in each
task, so each worker loads and runs that backend; a backend object is pickled with the task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _registry
from ._foreign import is_dask_array
from ._validation import ConvSpec, prepare_conv2d

__all__ = ["conv2d"]


# ---- what travels in the graph ---------------------------------------------------------


@dataclass(frozen=True)
class _Kernel:
    """The parts of a task shared by every block (small; pickled with each task)."""

    stride: tuple[int, ...]  # two values: Dask arrays are convolved in 2-D only
    dilation: tuple[int, ...]
    #: ("name", name, options) resolved on the worker, or ("object", backend object)
    backend: tuple


@dataclass(frozen=True)
class _AxisCut:
    """How a task cuts one spatial axis of its slab out of the joined input blocks.

    Either a slice ``[lo, hi)`` of the joined blocks with ``zeros_before`` /
    ``zeros_after`` rows of zeros around it (zero padding), or, for the other padding
    modes at the border, an index array ``take`` into the joined blocks.
    """

    lo: int = 0
    hi: int = 0
    zeros_before: int = 0
    zeros_after: int = 0
    take: np.ndarray | None = None

    @property
    def length(self) -> int:
        if self.take is not None:
            return len(self.take)
        return self.zeros_before + self.hi - self.lo + self.zeros_after


@dataclass(frozen=True)
class _Block:
    """What one output block computes: its cuts and its channels."""

    rows: _AxisCut
    cols: _AxisCut
    out_channels: tuple[int, int]  # [lo, hi) of the weight's output channels
    groups: int  # groups inside this block


def _backend_token(impl: Any) -> tuple:
    """Describe the resolved backend so a worker process can load the same one."""
    loaded = _registry.loaded_as(impl)
    if loaded is not None:
        return ("name", *loaded)
    return ("object", impl)


def _load(token: tuple) -> Any:
    if token[0] == "name":
        return _registry.load_backend(token[1], **dict(token[2]))
    return token[1]


def _cut(a: np.ndarray, axis: int, cut: _AxisCut) -> np.ndarray:
    if cut.take is not None:
        return np.take(a, cut.take, axis=axis)
    index = [slice(None)] * a.ndim
    index[axis] = slice(cut.lo, cut.hi)
    return a[tuple(index)]


def _strips(block: np.ndarray, cuts: tuple) -> tuple:
    """Cut the strips neighbouring output blocks need (copies: they travel, not the block).

    ``cuts`` holds ``(h0, h1, w0, w1)`` for each strip.
    """
    return tuple(block[:, :, h0:h1, w0:w1].copy() for h0, h1, w0, w1 in cuts)


def _assemble(pieces: list, rows: _AxisCut, cols: _AxisCut) -> np.ndarray:
    """Build a task's padded slab from its input pieces, copying the data once.

    ``pieces`` is a nested list [channel][row][column] of 4-D arrays; joined, they are the
    rows and columns the cuts index.  A slab that is one piece without zero padding is a
    view of it (the backends take any strides).
    """
    # a piece is an input block, or [strips of a block, which one]
    pieces = [
        [[p if isinstance(p, np.ndarray) else p[0][p[1]] for p in r] for r in c] for c in pieces
    ]
    first = pieces[0][0][0]
    if rows.take is None and cols.take is None:
        # zero padding (or none): a slice of the joined pieces, between rows of zeros
        zeros = rows.zeros_before or rows.zeros_after or cols.zeros_before or cols.zeros_after
        if len(pieces) == len(pieces[0]) == len(pieces[0][0]) == 1 and not zeros:
            return first[:, :, rows.lo : rows.hi, cols.lo : cols.hi]
        channels = sum(p[0][0].shape[1] for p in pieces)
        shape = (first.shape[0], channels, rows.length, cols.length)
        slab = (np.zeros if zeros else np.empty)(shape, dtype=first.dtype)
        r0, c0 = rows.zeros_before, cols.zeros_before
        window = (r0, r0 + rows.hi - rows.lo, c0, c0 + cols.hi - cols.lo)
        _fill(slab, pieces, rows.lo - r0, cols.lo - c0, window)
        return slab
    # another padding mode at the border: join the pieces, then gather rows and columns
    channels = sum(p[0][0].shape[1] for p in pieces)
    height = sum(r[0].shape[2] for r in pieces[0])
    width = sum(c.shape[3] for c in pieces[0][0])
    joined = np.empty((first.shape[0], channels, height, width), dtype=first.dtype)
    _fill(joined, pieces, 0, 0, (0, height, 0, width))
    return _cut(_cut(joined, 2, rows), 3, cols)


def _fill(out: np.ndarray, pieces: list, row0: int, col0: int, window: tuple) -> None:
    """Copy the joined pieces into ``out``, whose row 0 / column 0 is joined row0 / col0.

    Only ``out[:, :, window[0]:window[1], window[2]:window[3]]`` is written (the rest is
    zero padding).
    """
    c = 0
    for channel_pieces in pieces:
        nc = channel_pieces[0][0].shape[1]
        h = -row0
        for row_pieces in channel_pieces:
            nh = row_pieces[0].shape[2]
            w = -col0
            for piece in row_pieces:
                nw = piece.shape[3]
                # the part of this piece that falls inside ``out``
                h0, h1 = max(h, window[0]), min(h + nh, window[1])
                w0, w1 = max(w, window[2]), min(w + nw, window[3])
                if h0 < h1 and w0 < w1:
                    out[:, c : c + nc, h0:h1, w0:w1] = piece[:, :, h0 - h : h1 - h, w0 - w : w1 - w]
                w += nw
            h += nh
        c += nc


def _run_block(kernel: _Kernel, block: _Block, params: tuple, pieces: list) -> np.ndarray:
    """One task: build the padded slab from the input pieces it got, convolve it."""
    weight, bias = params
    slab = _assemble(pieces, block.rows, block.cols)
    lo, hi = block.out_channels
    x, w, b, spec = prepare_conv2d(
        slab,
        weight[lo:hi],
        None if bias is None else bias[lo:hi],
        kernel.stride,
        0,
        kernel.dilation,
        block.groups,
    )
    return _registry.resolve(_load(kernel.backend), spec).conv2d(x, w, b, spec)


# ---- planning ----------------------------------------------------------------------------


def _source_index(r: np.ndarray, n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Input position of each padded position ``r`` (-1 where zero padding is)."""
    s = r - before
    if mode == "constant":
        return np.where((s >= 0) & (s < n), s, -1)
    if mode == "reflect":  # pad_plan checked pad < n: one reflection suffices
        s = np.abs(s)
        return np.where(s >= n, 2 * (n - 1) - s, s)
    if mode == "replicate":
        return np.clip(s, 0, n - 1)
    # circular: torch crops (negative pads) first, then wraps what is left
    start = max(-before, 0)
    kept = n - start - max(-after, 0)
    return start + np.mod(r - max(before, 0), kept)


def _axis_plan(
    chunks: tuple[int, ...],
    before: int,
    after: int,
    mode: str,
    k: int,
    stride: int,
    dilation: int,
    out_len: int,
) -> tuple[tuple[int, ...], list[tuple[list[tuple[int, int, int]], _AxisCut]]]:
    """Plan one spatial axis: the output chunks and, for each, the input rows it reads.

    Returns
    -------
    out_chunks : tuple of int
    cuts : list of (parts, _AxisCut), one per output chunk
        ``parts``: (block index, first row, end row) in the block's own coordinates, the
        rows of each input block the output chunk reads (a whole block when it reads
        most of it); the cut indexes the parts joined in this order.
    """
    n = sum(chunks)
    starts = np.concatenate([[0], np.cumsum(chunks, dtype=np.int64)])
    span = dilation * (k - 1)
    # output row y goes with the input chunk holding its window's centre
    shift = before - span // 2
    bounds = [0]
    for b in starts[1:-1]:
        bounds.append(min(max(-(-(int(b) + shift) // stride), bounds[-1]), out_len))
    bounds.append(out_len)
    bounds = sorted(set(bounds))
    out_chunks = tuple(b - a for a, b in itertools.pairwise(bounds))

    cuts = []
    for y0, y1 in itertools.pairwise(bounds):
        r = np.arange(y0 * stride, (y1 - 1) * stride + span + 1, dtype=np.int64)
        src = _source_index(r, n, before, after, mode)
        valid = src >= 0
        used = src[valid]
        owner = np.searchsorted(starts, used, side="right") - 1
        # the rows the slab uses in each block; only those travel to the task
        parts: list[tuple[int, int, int]] = []
        base, offset = np.zeros(len(chunks), dtype=np.int64), 0
        for blk in sorted(set(owner.tolist())):
            rows = used[owner == blk] - starts[blk]
            lo, hi = int(rows.min()), int(rows.max()) + 1
            if 2 * (hi - lo) > chunks[blk]:  # most of the block: take it whole, no copy
                lo, hi = 0, chunks[blk]
            parts.append((blk, lo, hi))
            base[blk] = offset - lo  # joined position = row in block + base
            offset += hi - lo
        if not parts:  # all zero padding: an empty part still gives the slab its shape
            parts = [(0, 0, 0)]
        local = np.full(len(src), -1, dtype=np.int64)
        local[valid] = used - starts[owner] + base[owner]
        inner = local[valid]
        contiguous = not valid.any() or (
            np.all(np.diff(inner) == 1)
            and np.all(valid[np.argmax(valid) : len(valid) - np.argmax(valid[::-1])])
        )
        if contiguous:  # zero padding: a slice of the joined parts between zero rows
            lead = int(np.argmax(valid)) if valid.any() else len(src)
            trail = int(np.argmax(valid[::-1])) if valid.any() else 0
            lo = int(inner[0]) if valid.any() else 0
            cut = _AxisCut(lo, lo + len(inner), lead, trail)
        else:  # another mode's border: an index array (never -1 outside zero padding)
            cut = _AxisCut(take=local)
        cuts.append((parts, cut))
    return out_chunks, cuts


def _channel_plan(
    chunks: tuple[int, ...], out_channels: int, groups: int
) -> list[tuple[list[int], int, int]]:
    """Output-channel chunks: (input channel blocks, first group, end group) for each."""
    cig = sum(chunks) // groups
    if cig == 0:  # no input channels: the output is the bias, one chunk
        return [([0], 0, groups)]
    starts = np.concatenate([[0], np.cumsum(chunks, dtype=np.int64)]).tolist()
    bounds = sorted({0, groups} | {b // cig for b in starts[1:-1] if b % cig == 0})
    plan = []
    for g0, g1 in itertools.pairwise(bounds):
        lo, hi = g0 * cig, g1 * cig
        blocks = [i for i in range(len(chunks)) if starts[i] < hi and starts[i + 1] > lo]
        plan.append((blocks, g0, g1))
    return plan


def _build(
    x,
    weight: np.ndarray,
    bias: np.ndarray | None,
    spec: ConvSpec,
    pads: tuple[int, int, int, int],
    mode: str,
    impl: Any,
):
    """Build the lazy result of a validated call on a batched 4-D Dask input."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    token = _backend_token(impl)
    kernel = _Kernel(spec.stride, spec.dilation, token)
    top, bottom, left, right = pads
    kh, kw = spec.kernel_size
    ho, wo = spec.output_size
    h_chunks, h_cuts = _axis_plan(
        x.chunks[2], top, bottom, mode, kh, spec.stride[0], spec.dilation[0], ho
    )
    w_chunks, w_cuts = _axis_plan(
        x.chunks[3], left, right, mode, kw, spec.stride[1], spec.dilation[1], wo
    )
    c_plan = _channel_plan(x.chunks[1], spec.out_channels, spec.groups)
    cog = spec.out_channels // spec.groups

    tok = tokenize(x.name, weight, bias, spec, pads, mode, token)
    name = "pyconv-conv2d-" + tok
    params_key = ("pyconv-weight-" + tok, 0)
    dsk: dict = {params_key: (weight, bias)}
    # halo strips, grouped by the block they are cut from: one small task per block
    # (next to it) cuts them all, so only strips travel and the task count stays low
    wanted: dict = {}  # input block key -> {(h0, h1, w0, w1): position in its task's tuple}
    halo = "pyconv-halo-" + tok
    h_full, w_full = x.chunks[2], x.chunks[3]

    def piece(nb: int, c: int, hp: tuple[int, int, int], wp: tuple[int, int, int]) -> Any:
        (h, h0, h1), (w, w0, w1) = hp, wp
        key = (x.name, nb, c, h, w)
        if (h0, h1) == (0, h_full[h]) and (w0, w1) == (0, w_full[w]):
            return key
        cuts = wanted.setdefault(key, {})
        return [(halo, nb, c, h, w), cuts.setdefault((h0, h1, w0, w1), len(cuts))]

    for nb in range(len(x.chunks[0])):
        for ci, (c_blocks, g0, g1) in enumerate(c_plan):
            for hi, (h_parts, rows) in enumerate(h_cuts):
                for wi, (w_parts, cols) in enumerate(w_cuts):
                    pieces = [
                        [[piece(nb, c, hp, wp) for wp in w_parts] for hp in h_parts]
                        for c in c_blocks
                    ]
                    block = _Block(rows, cols, (g0 * cog, g1 * cog), g1 - g0)
                    dsk[(name, nb, ci, hi, wi)] = (_run_block, kernel, block, params_key, pieces)
    for key, cuts in wanted.items():
        strips_key = (halo, *key[1:])
        dsk[strips_key] = (_strips, key, tuple(cuts))
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    co_chunks = tuple((g1 - g0) * cog for _, g0, g1 in c_plan)
    chunks = (x.chunks[0], co_chunks, h_chunks, w_chunks)
    return da.Array(graph, name, chunks, meta=np.empty((0, 0, 0, 0), dtype=spec.dtype))


def _stand_in(x) -> np.ndarray:
    """Return a zero-memory NumPy array with the Dask array's shape and dtype."""
    if any(np.isnan(c) for dim in x.chunks for c in dim):
        raise ValueError(
            f"conv2d(): the Dask input has unknown chunk sizes (shape {x.shape}); pyconv "
            "needs them to plan the tiles: call x.compute_chunk_sizes() first"
        )
    return np.broadcast_to(np.zeros((), dtype=x.dtype), x.shape)


def _concrete(a):
    """Weights and biases are small: compute a Dask one now, take the rest as they are."""
    return a.compute() if is_dask_array(a) else a


def conv2d(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    *,
    backend=None,
    pad: tuple[int, int, int, int] | None = None,
    padding_mode: str = "zeros",
):
    """:func:`pyconv.conv2d` (and ``Conv2d``'s padding modes) on a Dask array, lazily.

    Parameters
    ----------
    input : dask.array.Array, shape (N, C_in, H, W) or (C_in, H, W)
    weight, bias, stride, padding, dilation, groups, backend
        As for :func:`pyconv.conv2d`; a Dask weight or bias is computed first.
    pad : (left, right, top, bottom), optional
        With ``padding_mode`` other than ``'zeros'``: the input is padded like
        ``pyconv.pad(input, pad, mode=padding_mode)`` (at the image's border only) and
        convolved with ``padding=0``, as :class:`pyconv.Conv2d` does.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}

    Returns
    -------
    dask.array.Array, shape (N, C_out, H_out, W_out) or (C_out, H_out, W_out)
        Lazy; the input's dtype; chunks as described in this module's docstring.
    """
    x = input
    weight, bias = _concrete(weight), _concrete(bias)
    stand_in = _stand_in(x)
    if padding_mode != "zeros":
        from .padding import pad_plan

        if pad is None:
            raise TypeError(f"conv2d(): padding_mode={padding_mode!r} needs pad=, got None")
        widths, padded_shape = pad_plan(
            x.shape, pad, padding_mode, itemsize=stand_in.dtype.itemsize
        )
        pads = (*widths[-2], *widths[-1])
        mode = padding_mode
        stand_in = np.broadcast_to(np.zeros((), dtype=stand_in.dtype), padded_shape)
        padding = 0
    else:
        mode = "constant"
    _, w, b, spec = prepare_conv2d(stand_in, weight, bias, stride, padding, dilation, groups)
    impl = _registry.resolve(backend, spec)  # the in-memory call's selection and errors
    if mode == "constant":
        pads = spec.padding
    # a snapshot, as an in-memory call reads the weight when it is made
    w = np.array(w, copy=True)
    b = None if b is None else np.array(b, copy=True)
    if spec.unbatched:
        x = x[None]
    out = _build(x, w, b, spec, pads, mode, impl)
    return out[0] if spec.unbatched else out
