"""Train the small digits CNN in PyTorch and export what pyconv needs to run it without torch.

Needs torch and scikit-learn (``pip install torch==2.13.0 scikit-learn``); run from anywhere::

    python examples/digits/train.py

It trains on scikit-learn's 8x8 handwritten digits (1797 images, shipped inside
scikit-learn, so nothing is downloaded), 80 % for training and 20 % (360 images, the
same split every time) for testing, and writes next to this file:

``digits_cnn.npz``
    the trained weights, the torch model's state dict under its own names, written by
    :func:`pyconv.export.save_state_dict` (plain arrays, no pickle);
``digits_test.npz``
    the test images (float32, (360, 1, 8, 8), scaled to [0, 1]), their labels, and the
    logits torch computed for them, so that ``infer.py`` can compare with torch where torch
    is not installed.

Training is deterministic (fixed seeds, one thread, torch's deterministic algorithms): the
same torch version on the same kind of CPU writes the same files.  Another CPU or torch
version may round differently in the last bits and train slightly different weights;
``infer.py`` compares with the logits stored beside them, so the check stays valid.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import pyconv.export

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 0


def torch_model() -> nn.Sequential:
    """Build the network in torch; ``infer.build_model`` is the same in pyconv (same names)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False),  # (16, 8, 8)
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),  # (16, 4, 4)
        nn.Conv2d(16, 32, 3, padding=1, bias=False),  # (32, 4, 4)
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AvgPool2d(2),  # (32, 2, 2)
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def load_data():
    """Return (x_train, y_train, x_test, y_test): images (N, 1, 8, 8) float32 in [0, 1]."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)


def train(epochs: int = 40, verbose: bool = True) -> tuple[nn.Sequential, dict]:
    """Train the model deterministically; return it (in eval mode) and the test data."""
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    x_train, x_test, y_train, y_test = load_data()
    model = torch_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), 64):
            batch = order[start : start + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[batch]), yt[batch])
            loss.backward()
            opt.step()
        if verbose and (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x_test)).numpy()
    test = {
        "images": x_test,
        "labels": y_test,
        "torch_logits": logits,
        "torch_version": np.array(torch.__version__),
    }
    return model, test


def main(argv=None) -> None:
    """Train, then write digits_cnn.npz and digits_test.npz (default: next to this file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=HERE, help="directory for the two files")
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    model, test = train(args.epochs)
    names = pyconv.export.save_state_dict(model, os.path.join(args.out, "digits_cnn.npz"))
    with open(os.path.join(args.out, "digits_test.npz"), "wb") as f:
        np.savez(f, **test)
    accuracy = float(np.mean(test["torch_logits"].argmax(1) == test["labels"]))
    print(
        f"torch {torch.__version__}: test accuracy {accuracy:.4f} on {len(test['labels'])} images"
    )
    print(f"wrote {len(names)} arrays to digits_cnn.npz and the test set to digits_test.npz")


if __name__ == "__main__":
    main()
