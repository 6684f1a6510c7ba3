"""Run the digits CNN trained in PyTorch with pyconv and NumPy only: no torch, no scikit-learn.

::

    python examples/digits/infer.py

loads the weights ``train.py`` exported (``digits_cnn.npz``) and the test images shipped
beside them (``digits_test.npz``), classifies the 360 images, and prints the accuracy and
how far pyconv's logits are from the ones torch computed at export time; then does the
same with every batch norm folded into the convolution before it.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import pyconv
from pyconv import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def build_model() -> nn.Sequential:
    """Build the network of ``train.torch_model`` in pyconv: the same layers, so the same names."""
    return nn.Sequential(
        pyconv.Conv2d(1, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        pyconv.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def load_model(path: str = os.path.join(HERE, "digits_cnn.npz")) -> nn.Sequential:
    """Build the model and fill it from the exported file (every name must match)."""
    model = build_model()
    model.load_state_dict(path)
    return model


def fold_batchnorms(model: nn.Sequential) -> nn.Sequential:
    """Return a copy of ``model`` with each Conv2d + BatchNorm2d pair folded into one conv."""
    layers = list(model)
    out = []
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.BatchNorm2d):
            continue  # folded into the previous layer
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, pyconv.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            layer = pyconv.fuse_conv_bn_eval(layer, nxt)
        out.append(layer)
    return nn.Sequential(*out)


def load_test_set(path: str = os.path.join(HERE, "digits_test.npz")) -> dict[str, np.ndarray]:
    """Return the test images, labels and torch's logits, read without pickle."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def evaluate(model, test: dict[str, np.ndarray]) -> dict:
    """Classify the test images; compare with the labels and with torch's logits."""
    logits = model(test["images"])
    predictions = logits.argmax(axis=1)
    return {
        "logits": logits,
        "accuracy": float(np.mean(predictions == test["labels"])),
        "correct": int(np.sum(predictions == test["labels"])),
        "same_as_torch": int(np.sum(predictions == test["torch_logits"].argmax(axis=1))),
        "max_logit_diff": float(np.max(np.abs(logits - test["torch_logits"]))),
    }


def main(argv=None) -> int:
    """Print accuracy and the distance to torch's logits; exit 1 if they disagree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=os.path.join(HERE, "digits_cnn.npz"))
    parser.add_argument("--test-set", default=os.path.join(HERE, "digits_test.npz"))
    args = parser.parse_args(argv)
    test = load_test_set(args.test_set)
    model = load_model(args.weights)
    n = len(test["labels"])
    print(f"pyconv {pyconv.__version__}, numpy {np.__version__}; weights from torch "
          f"{test['torch_version']}")  # fmt: skip
    ok = True
    for name, net in (("as exported", model), ("batch norm folded", fold_batchnorms(model))):
        r = evaluate(net, test)
        print(
            f"{name:>17}: accuracy {r['accuracy']:.4f} ({r['correct']}/{n}), predictions "
            f"equal to torch's {r['same_as_torch']}/{n}, largest |logit - torch logit| "
            f"{r['max_logit_diff']:.2e}"
        )
        ok = ok and r["same_as_torch"] == n and r["max_logit_diff"] <= 1e-4
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
