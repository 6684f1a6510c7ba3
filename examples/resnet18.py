"""A ResNet-18 from torch, run by pyconv with its batch norms folded; compared and timed.

::

    python examples/resnet18.py [--size 224] [--batch 1] [--threads 1,2] [--rounds 5]

The network is torch's (torchvision's ``resnet18`` architecture, written out here so that
torchvision is not needed): a 7x7 stride-2 stem, 3x3 stride-2 max pooling, four stages of
two BasicBlocks (64, 128, 256, 512 channels; 1x1 stride-2 downsampling convolutions at
the start of stages 2-4), global average pooling and a 1000-way linear layer.  Its weights
are random (torchvision's initialisation, seeded) and its batch-norm statistics are
calibrated on random images in training mode, so that every batch norm does real work.

The steps, as a user would take them (docs/from-pytorch.md):

1. export the torch model's state dict with :func:`pyconv.export.save_state_dict`;
2. build the same network from pyconv layers (the same attribute names) and load the file;
3. fold each batch norm into the convolution before it (:func:`pyconv.fuse_conv_bn_eval`);
4. run it, and compare with torch's output (relative error: the largest absolute
   difference over the largest absolute logit).

Then both are timed on the same input, in this process, at each thread count (torch's,
pyconv's and, with threadpoolctl installed, NumPy's BLAS threads all set to it): rounds
taken in turn, the median of each.  Needs torch (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from torch import nn as tnn

import pyconv
import pyconv.export
from pyconv import nn

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (channels, stride of the first block)

# --------------------------------------------------------------------------------------
# The torch network (torchvision's ResNet-18)
# --------------------------------------------------------------------------------------


class TorchBasicBlock(tnn.Module):
    """Two 3x3 convolutions with batch norm, plus the input (downsampled if needed)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(cout)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(
                tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout)
            )

    def forward(self, x):  # noqa: D102 - torchvision's
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TorchResNet18(tnn.Module):
    """torchvision's ``resnet18(num_classes=1000)``, without the download."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (cout, stride) in enumerate(STAGES, start=1):
            setattr(self, f"layer{i}", tnn.Sequential(
                TorchBasicBlock(cin, cout, stride), TorchBasicBlock(cout, cout, 1)
            ))  # fmt: skip
            cin = cout
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, tnn.Conv2d):
                tnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):  # noqa: D102 - torchvision's
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torch_resnet18(seed: int = 0, calibration_size: int = 64) -> TorchResNet18:
    """Return a seeded torch ResNet-18 in eval mode, its batch-norm statistics calibrated.

    The affine parameters of the batch norms are drawn away from (1, 0), and the running
    statistics are the averages over a few random batches in training mode, as training
    would leave them.
    """
    torch.manual_seed(seed)
    model = TorchResNet18()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.momentum = None  # a plain average over the calibration batches
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, calibration_size, calibration_size))
    return model.eval()


# --------------------------------------------------------------------------------------
# The same network from pyconv's layers
# --------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """pyconv's BasicBlock: the torch block's layers under the same names."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        self.conv1 = pyconv.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)  # in place: the conv's output is a fresh array
        self.conv2 = pyconv.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                pyconv.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return relu(bn2(conv2(relu(bn1(conv1(x))))) + identity)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)

    def fold(self) -> None:
        """Fold each batch norm into its convolution (replaced by an Identity)."""
        self.conv1, self.bn1 = pyconv.fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        self.conv2, self.bn2 = pyconv.fuse_conv_bn_eval(self.conv2, self.bn2), nn.Identity()
        if self.downsample is not None:
            conv, bn = self.downsample
            self.downsample = nn.Sequential(pyconv.fuse_conv_bn_eval(conv, bn))


class ResNet18(nn.Module):
    """pyconv's ResNet-18: loads a torch ResNet-18 state dict by name."""

    def __init__(self, num_classes: int = 1000) -> None:
        self.conv1 = pyconv.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (cout, stride) in enumerate(STAGES, start=1):
            setattr(self, f"layer{i}", nn.Sequential(
                BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)
            ))  # fmt: skip
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return the logits, shape (N, num_classes), of images shape (N, 3, H, W)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.flatten(self.avgpool(x)))

    def fold(self) -> ResNet18:
        """Fold every batch norm into the convolution before it; return self."""
        self.conv1, self.bn1 = pyconv.fuse_conv_bn_eval(self.conv1, self.bn1), nn.Identity()
        for i in range(1, 5):
            for block in getattr(self, f"layer{i}"):
                block.fold()
        return self


def convert(model: tnn.Module, directory: str) -> ResNet18:
    """Export ``model`` to ``directory``/resnet18.npz, load it into pyconv, fold it."""
    path = os.path.join(directory, "resnet18.npz")
    pyconv.export.save_state_dict(model, path)
    ours = ResNet18()
    ours.load_state_dict(path)  # strict: every name of the torch model is used
    return ours.fold()


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest absolute difference over the largest absolute value of ``want``."""
    return float(np.max(np.abs(got.astype(np.float64) - want)) / np.max(np.abs(want)))


def time_both(tmodel, model, x: np.ndarray, threads: int, rounds: int, budget: float = 0.5):
    """Median times (seconds) of torch and pyconv on ``x`` at ``threads`` threads.

    The two take turns; in each round each runs for about ``budget`` seconds and records
    its median call time.  Returns (torch, pyconv) medians over the rounds.
    """
    torch.set_num_threads(threads)
    pyconv.set_num_threads(threads)
    tx = torch.from_numpy(x)
    try:  # NumPy's BLAS (pyconv's Linear) on as many threads, as `pyconv bench` does
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass

    def run_torch():
        with torch.no_grad():
            tmodel(tx)

    def run_pyconv():
        model(x)

    times = {"torch": [], "pyconv": []}
    for fn in (run_torch, run_pyconv):  # warm up
        fn()
    for _ in range(rounds):
        for name, fn in (("torch", run_torch), ("pyconv", run_pyconv)):
            calls = []
            start = time.perf_counter()
            while not calls or (time.perf_counter() - start < budget and len(calls) < 50):
                t0 = time.perf_counter()
                fn()
                calls.append(time.perf_counter() - t0)
            times[name].append(statistics.median(calls))
    return statistics.median(times["torch"]), statistics.median(times["pyconv"])


def main(argv=None) -> int:
    """Convert, compare and time; exit 1 if the relative error exceeds 1e-4."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="image height and width")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds (0: no timing)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tmodel = torch_resnet18(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        model = convert(tmodel, tmp)
    x = np.random.default_rng(args.seed).standard_normal(
        (args.batch, 3, args.size, args.size), dtype=np.float32
    )
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    got = model(x)
    err = relative_error(got, want)
    same = int(np.sum(got.argmax(1) == want.argmax(1)))
    from pyconv import _core  # for the kernel ISA in the header

    print(f"pyconv {pyconv.__version__} (kernel ISA {_core.isa()}), torch {torch.__version__}, "
          f"numpy {np.__version__}")  # fmt: skip
    print(f"ResNet-18, batch norms folded, input {x.shape}: relative error {err:.2e} "
          f"(max |pyconv - torch| / max |torch|), top-1 equal {same}/{args.batch}")  # fmt: skip
    if args.rounds > 0:
        print(f"{'threads':>7}  {'torch':>9}  {'pyconv':>9}  torch/pyconv")
        for n in (int(t) for t in args.threads.split(",")):
            t_torch, t_ours = time_both(tmodel, model, x, n, args.rounds)
            print(f"{n:>7}  {t_torch * 1e3:>7.1f}ms  {t_ours * 1e3:>7.1f}ms  "
                  f"{t_torch / t_ours:>12.2f}")  # fmt: skip
    return 0 if err <= 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
