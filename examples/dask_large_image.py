"""Convolve an image larger than any worker's memory, from a zarr store to a zarr store.

The input is made lazily (random data, chunk by chunk) and streamed into a zarr store; a
``pyconv.Conv2d`` layer (5x5, ``padding='same'``, ``padding_mode='reflect'``) reads it back
as a Dask array, and the result is streamed into a second zarr store.  No process ever
holds more than a few chunks.  At the end a few tiles of the output (the four corners and
random interior ones) are checked against an exact convolution of the stored input.

Run it on a local cluster whose workers have less memory than the image::

    python examples/dask_large_image.py --workers 2 --memory-limit 256MiB --size 6144

on an existing cluster (``dask scheduler`` / ``dask worker`` started elsewhere)::

    python examples/dask_large_image.py --scheduler tcp://10.0.0.5:8786 --out /shared/out.zarr

(the stores must then be on storage every worker can reach), or with Dask's threads in this
process::

    python examples/dask_large_image.py --threads

Without ``--out`` the two stores (1.1 GiB at the default size) go to a temporary folder
that is removed at the end, whether the run succeeds or not; ``--keep`` keeps it.  A
folder given with ``--out`` is the caller's and is kept.

Needs ``pip install 'pyconv[dask]'`` (Dask, distributed and zarr).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

import pyconv

KERNEL = 5  # 'same' padding: halo of 2 rows / columns each side


def make_layer(channels: int, seed: int) -> pyconv.Conv2d:
    """Return the layer the example applies: 5x5, 'same' size, reflect padding, float32."""
    return pyconv.Conv2d(
        channels, channels, KERNEL, padding="same", padding_mode="reflect", rng=seed
    )


def _compute(task, client, progress: bool) -> None:
    """Run a Dask task to completion, with a progress bar."""
    if client is not None:
        from distributed import progress as distributed_progress

        future = client.compute(task)
        if progress:
            # a text bar in a terminal, a widget in Jupyter
            distributed_progress(future, scheduler=client.scheduler.address)
            print(file=sys.stderr)
        future.result()
    else:
        from dask.diagnostics import ProgressBar

        if progress:
            with ProgressBar():
                task.compute()
        else:
            task.compute()


def _zarr_like(path: str, shape, chunks, dtype):
    """Create an empty zarr array (zarr 2 and 3 both accept these arguments)."""
    import zarr

    return zarr.open_array(store=path, mode="w", shape=shape, chunks=chunks, dtype=dtype)


def run(
    workdir: str,
    *,
    size: int = 6144,
    channels: int = 4,
    chunk: int = 512,
    seed: int = 0,
    client=None,
    progress: bool = True,
    check_tiles: int = 4,
) -> dict:
    """Generate, store, convolve, store, check.

    Parameters
    ----------
    workdir : str
        Folder for ``input.zarr`` and ``output.zarr`` (shared storage on a real cluster).
    size : int
        Image height and width; the input is ``(1, channels, size, size)`` float32.
    channels : int
        Input and output channels.
    chunk : int
        Chunk height and width (every chunk holds all channels).
    seed : int
        Seed of the data and of the layer's weights.
    client : distributed.Client, optional
        Where to compute; Dask's threaded scheduler when None.
    progress : bool
        Show progress bars.
    check_tiles : int
        Tiles of the output (256 x 256) checked against an exact convolution of the stored
        input: the 4 corners first (where the padding mode acts), then random ones.

    Returns
    -------
    dict
        ``input_bytes``, ``output_bytes``, ``seconds`` (convolution stage), ``tiles``
        (how many were checked) and ``worst``: the largest error over the checked tiles
        as a fraction of the accuracy contract's bound (``<= 1`` passes, see
        :mod:`pyconv.testing`).
    """
    import dask.array as da

    shape = (1, channels, size, size)
    chunks = (1, channels, chunk, chunk)
    in_path = os.path.join(workdir, "input.zarr")
    out_path = os.path.join(workdir, "output.zarr")

    # 1. a lazily generated image, streamed into a chunked store
    image = da.random.default_rng(seed).standard_normal(shape, chunks=chunks, dtype=np.float32)
    store = _zarr_like(in_path, shape, chunks, np.float32)
    _compute(da.store(image, store, lock=False, compute=False), client, progress)

    # 2. read it back lazily, convolve, stream the result into another store
    layer = make_layer(channels, seed)
    x = da.from_zarr(in_path)
    y = layer(x)  # lazy; 'same' padding keeps the input's chunks
    out = _zarr_like(out_path, y.shape, chunks, y.dtype)
    start = time.perf_counter()
    _compute(da.store(y, out, lock=False, compute=False), client, progress)
    seconds = time.perf_counter() - start

    # 3. a few tiles checked against the accuracy contract, from the stored input
    import zarr

    from pyconv.testing import accuracy_report

    src = zarr.open_array(store=in_path, mode="r")
    res = zarr.open_array(store=out_path, mode="r")
    rng = np.random.default_rng(seed)
    tile, halo = min(256, size), KERNEL // 2
    corners = [(0, 0), (0, size - tile), (size - tile, 0), (size - tile, size - tile)]
    spots = corners + [tuple(rng.integers(0, size - tile + 1, 2)) for _ in range(check_tiles)]
    worst = 0.0
    for r0, c0 in spots[:check_tiles]:
        # the tile's input neighbourhood, reflected where it crosses the image border
        a0, a1 = max(r0 - halo, 0), min(r0 + tile + halo, size)
        b0, b1 = max(c0 - halo, 0), min(c0 + tile + halo, size)
        border = (b0 - (c0 - halo), c0 + tile + halo - b1, a0 - (r0 - halo), r0 + tile + halo - a1)
        neighbourhood = pyconv.pad(np.asarray(src[:, :, a0:a1, b0:b1]), border, mode="reflect")
        got = np.asarray(res[:, :, r0 : r0 + tile, c0 : c0 + tile])
        report = accuracy_report(got, neighbourhood, layer.weight, layer.bias)
        worst = max(worst, report["worst"])
    return {
        "input_bytes": int(np.prod(shape)) * 4,
        "output_bytes": int(np.prod(y.shape)) * y.dtype.itemsize,
        "seconds": seconds,
        "worst": worst,
        "tiles": min(check_tiles, len(spots)),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module's docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of an existing scheduler, tcp://host:8786")
    where.add_argument("--threads", action="store_true", help="Dask's threads, no cluster")
    parser.add_argument("--workers", type=int, default=2, help="local cluster workers")
    parser.add_argument("--memory-limit", default="256MiB", help="per local worker")
    parser.add_argument("--size", type=int, default=6144)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument(
        "--out", help="folder for the zarr stores, kept (default: a temporary one, removed)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    workdir = args.out or tempfile.mkdtemp(prefix="pyconv-dask-")
    remove = args.out is None and not args.keep
    try:
        return _main(args, workdir)
    finally:
        if remove:  # the stores are as large as the image, twice: never leave them behind
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"stores removed: {workdir} (--keep or --out DIR to keep them)")
        else:
            print(f"stores: {workdir}")


def _main(args: argparse.Namespace, workdir: str) -> int:
    gb = args.channels * args.size**2 * 4 / 2**30
    print(f"image (1, {args.channels}, {args.size}, {args.size}) float32: {gb:.2f} GiB")
    if args.threads:
        stats = run(workdir, size=args.size, channels=args.channels, chunk=args.chunk)
    else:
        from distributed import Client, LocalCluster

        if args.scheduler:
            cluster, client = None, Client(args.scheduler)
        else:
            print(f"local cluster: {args.workers} workers x {args.memory_limit}")
            cluster = LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                memory_limit=args.memory_limit,
                dashboard_address=":0",
            )
            client = Client(cluster)
        try:
            print(f"dashboard: {client.dashboard_link}")
            stats = run(
                workdir, size=args.size, channels=args.channels, chunk=args.chunk, client=client
            )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    print(
        f"convolved {stats['input_bytes'] / 2**30:.2f} GiB in {stats['seconds']:.1f} s; "
        f"{stats['tiles']} tiles checked: worst error {stats['worst']:.3g} of the bound "
        f"({'ok' if stats['worst'] <= 1 else 'FAILED'})"
    )
    return 0 if stats["worst"] <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
