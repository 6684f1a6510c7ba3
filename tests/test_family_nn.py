"""The layers of the family against torch.nn: Conv1d, Conv3d, ConvTranspose1d/2d/3d.

Each layer is built with the same arguments as torch's, loads torch's weights (a state
dict of tensors, an ``.npz`` file, a ``.safetensors`` file) and must give torch's output
within the accuracy contract; its ``repr`` is torch's, character for character; its
initial weights follow torch's distribution; its checks raise torch's errors.
(``tests/test_nn.py`` covers ``Conv2d`` in depth; the machinery is shared.)
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import pyconv
from pyconv.testing import assert_op_close

torch = pytest.importorskip("torch")

LAYERS = {
    "Conv1d": (pyconv.Conv1d, 1, False),
    "Conv2d": (pyconv.Conv2d, 2, False),
    "Conv3d": (pyconv.Conv3d, 3, False),
    "ConvTranspose1d": (pyconv.ConvTranspose1d, 1, True),
    "ConvTranspose2d": (pyconv.ConvTranspose2d, 2, True),
    "ConvTranspose3d": (pyconv.ConvTranspose3d, 3, True),
}

# (layer, positional args, keyword args, input spatial size)
CONFIGS = [
    ("Conv1d", (4, 6, 5), {}, (20,)),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, (17,)),
    ("Conv1d", (3, 5, 4), {"padding": "same", "padding_mode": "reflect"}, (9,)),
    ("Conv1d", (3, 5, 3), {"padding": 2, "padding_mode": "circular", "bias": False}, (7,)),
    ("Conv1d", (2, 2, 3), {"padding": "valid", "padding_mode": "replicate"}, (6,)),
    ("Conv3d", (3, 4, 3), {"padding": 1}, (4, 6, 5)),
    ("Conv3d", (4, 4, (1, 3, 2)), {"stride": (1, 2, 1), "groups": 4}, (3, 7, 6)),
    ("Conv3d", (2, 3, 3), {"padding": "same", "dilation": (1, 2, 1)}, (3, 5, 6)),
    ("Conv3d", (2, 3, 2), {"padding": (1, 0, 1), "padding_mode": "reflect"}, (3, 4, 5)),
    ("Conv3d", (2, 3, 3), {"padding": 1, "padding_mode": "replicate"}, (2, 3, 4)),
    ("ConvTranspose1d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (9,)),
    ("ConvTranspose1d", (4, 2, 4), {"stride": 3, "groups": 2, "dilation": 2, "bias": False},
     (5,)),
    ("ConvTranspose2d", (6, 4, 3), {"stride": 2, "padding": 1}, (7, 5)),
    ("ConvTranspose2d", (6, 4, (4, 3)), {"stride": (2, 1), "output_padding": (1, 0),
                                         "groups": 2, "dilation": (1, 2)}, (4, 6)),
    ("ConvTranspose3d", (3, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1},
     (3, 4, 2)),
    ("ConvTranspose3d", (2, 2, (2, 1, 3)), {"stride": (1, 2, 3), "bias": False}, (2, 3, 3)),
]  # fmt: skip


def _ids():
    return [f"{c[0]}-{i}" for i, c in enumerate(CONFIGS)]


def _torch_layer(name, args, kwargs, dtype):
    layer = getattr(torch.nn, name)(*args, **kwargs)
    return layer.to(torch.float64 if dtype == np.float64 else torch.float32)


@pytest.mark.parametrize("config", CONFIGS, ids=_ids())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_with_torchs_weights_gives_torchs_output(config, dtype, backend, rng):
    name, args, kwargs, spatial = config
    cls, n, transposed = LAYERS[name]
    theirs = _torch_layer(name, args, kwargs, dtype)
    ours = cls(*args, **kwargs, dtype=dtype, backend=backend)
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == []
    assert result.unexpected_keys == []
    for shape in ((2, args[0], *spatial), (args[0], *spatial)):  # batched, unbatched
        x = rng.standard_normal(shape).astype(dtype)
        with torch.no_grad():
            want = theirs(torch.from_numpy(x)).numpy()
        got = ours(x)
        assert got.shape == want.shape
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)  # fmt: skip
        if kwargs.get("padding_mode", "zeros") == "zeros":
            w, b = ours.weight, ours.bias
            if transposed:
                p = {k: ours.__dict__[k] for k in ("stride", "padding", "output_padding",
                                                   "groups", "dilation")}  # fmt: skip
                assert_op_close(got, f"conv_transpose{n}d", x, w, b, **p)
            else:
                p = {k: ours.__dict__[k] for k in ("stride", "padding", "dilation", "groups")}
                assert_op_close(got, f"conv{n}d", x, w, b, **p)


@pytest.mark.parametrize("config", CONFIGS, ids=_ids())
def test_repr_is_torchs(config):
    name, args, kwargs, _ = config
    cls, _, _ = LAYERS[name]
    assert repr(cls(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize("config", CONFIGS, ids=_ids())
def test_init_follows_torchs_distribution(config):
    name, args, kwargs, _ = config
    cls, _, _ = LAYERS[name]
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    bound = 1 / math.sqrt(fan_in)
    ours = cls(*args, **kwargs, rng=0)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert ours.weight.dtype == np.float32
    assert np.abs(ours.weight).max() <= bound
    assert np.abs(theirs.weight.detach().numpy()).max() <= bound
    if ours.weight.size >= 50:  # spread over the whole interval, as torch's
        assert np.abs(ours.weight).max() > 0.8 * bound
    if ours.bias is not None:
        assert ours.bias.shape == (args[1],)
        assert np.abs(ours.bias).max() <= bound
    np.testing.assert_array_equal(cls(*args, **kwargs, rng=0).weight, ours.weight)


@pytest.mark.parametrize("name", ["Conv1d", "Conv3d", "ConvTranspose1d", "ConvTranspose3d"])
def test_weight_files_from_torch(name, tmp_path, rng):
    cls, n, _ = LAYERS[name]
    theirs = getattr(torch.nn, name)(4, 6, 3)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    np.savez(tmp_path / "w.npz", **{f"block.0.{k}": v for k, v in state.items()})
    ours = cls(4, 6, 3, rng=1)
    ours.load_state_dict(tmp_path / "w.npz", prefix="block.0.")
    np.testing.assert_array_equal(ours.weight, state["weight"])
    np.testing.assert_array_equal(ours.bias, state["bias"])
    safetensors = pytest.importorskip("safetensors.numpy")
    safetensors.save_file(state, str(tmp_path / "w.safetensors"))
    again = cls(4, 6, 3, rng=2)
    again.load_state_dict(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(again.weight, state["weight"])
    x = rng.standard_normal((1, 4, *(5,) * n)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).numpy(), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip


@pytest.mark.parametrize("name", ["Conv3d", "ConvTranspose2d"])
def test_state_dict_errors_name_the_layer(name):
    cls, _, _ = LAYERS[name]
    theirs = getattr(torch.nn, name)(4, 6, 3)
    other = getattr(torch.nn, name)(4, 8, 3)
    with pytest.raises(RuntimeError) as torch_info:
        theirs.load_state_dict(other.state_dict())
    with pytest.raises(ValueError, match=f"Error\\(s\\) in loading state_dict for {name}") as info:
        cls(4, 6, 3).load_state_dict(other.state_dict())
    assert str(info.value) == str(torch_info.value)


@pytest.mark.parametrize("name", ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"])
@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate"])
def test_transposed_layers_pad_with_zeros_only(name, mode):
    cls, _, _ = LAYERS[name]
    with pytest.raises(ValueError, match="padding mode") as torch_info:
        getattr(torch.nn, name)(2, 2, 3, padding_mode=mode)
    with pytest.raises(ValueError, match="padding mode") as info:
        cls(2, 2, 3, padding_mode=mode)
    assert str(info.value) == str(torch_info.value)
    assert str(info.value) == f'Only "zeros" padding mode is supported for {name}'


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_transposed_layers_refuse_padding_strings_at_construction(padding):
    # torch accepts them and fails when the layer is called (pytorch/pytorch#95123)
    theirs = torch.nn.ConvTranspose2d(2, 2, 3, padding=padding)
    with pytest.raises(TypeError):
        theirs(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match="padding strings 'valid' and 'same' are not supported"):
        pyconv.ConvTranspose2d(2, 2, 3, padding=padding)


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "spatial", "output_size"),
    [
        ("ConvTranspose1d", (3, 2, 3), {"stride": 2, "padding": 1}, (8,), [16]),
        ("ConvTranspose2d", (3, 2, 3), {"stride": 2, "padding": 1}, (7, 5), (14, 10)),
        ("ConvTranspose2d", (3, 2, 3), {"stride": 3}, (4, 4), [1, 2, 12, 13]),
        ("ConvTranspose3d", (2, 2, 3), {"stride": (1, 2, 2), "padding": 1}, (3, 4, 4),
         (3, 8, 7)),
    ],
)  # fmt: skip
def test_output_size_picks_torchs_output_padding(name, args, kwargs, spatial, output_size, rng):
    cls, _, _ = LAYERS[name]
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = cls(*args, **kwargs, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((1, args[0], *spatial))
    with torch.no_grad():
        want = theirs(torch.from_numpy(x), output_size=output_size).numpy()
    got = ours(x, output_size=output_size)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    unbatched = ours(x[0], output_size=output_size[-len(spatial) :])
    np.testing.assert_array_equal(unbatched, got[0])


@pytest.mark.parametrize(
    ("shape", "output_size"),
    [((1, 3, 5, 5), [13, 13]), ((1, 3, 5, 5), (8, 11)), ((1, 3, 5, 5), [10]),
     ((3, 5, 5), [1, 2, 10, 10]), ((1, 3, 5, 5), (10, 11, 12)), ((1, 3, 5, 5), [1, 2, 9, 9])],
)  # fmt: skip
def test_output_size_errors_are_torchs(shape, output_size):
    theirs = torch.nn.ConvTranspose2d(3, 2, 3, stride=2)
    with pytest.raises(ValueError, match="output") as torch_info:
        theirs(torch.zeros(shape), output_size=output_size)
    with pytest.raises(ValueError, match="output") as info:
        pyconv.ConvTranspose2d(3, 2, 3, stride=2)(np.zeros(shape, np.float32), output_size)
    assert str(info.value) == str(torch_info.value)


def test_output_padding_checked_when_called_as_torch_does():
    layer = pyconv.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)  # accepted here
    theirs = torch.nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)
    with pytest.raises(RuntimeError) as torch_info:
        theirs(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="output padding must be smaller") as info:
        layer(np.zeros((1, 2, 4, 4), np.float32))
    assert str(info.value).startswith(str(torch_info.value).splitlines()[0])


@pytest.mark.parametrize(
    ("cls", "args", "kwargs", "text"),
    [
        (pyconv.Conv1d, (3, 4, 3), {"groups": 2}, "in_channels must be divisible by groups"),
        (pyconv.Conv3d, (4, 6, 3), {"groups": 4}, "out_channels must be divisible by groups"),
        (pyconv.Conv3d, (4, 6, 3), {"padding": "full"}, "Invalid padding string 'full'"),
        (pyconv.Conv1d, (4, 6, 3), {"padding": "same", "stride": 2},
         "padding='same' is not supported for strided convolutions"),
        (pyconv.ConvTranspose3d, (4, 6, 3), {"groups": 0}, "groups must be a positive integer"),
        (pyconv.Conv1d, (4, 6, (3, 3)), {}, "Conv1d(): kernel_size must be an int, but got (3, 3)"),
        (pyconv.ConvTranspose3d, (4, 6, 3), {"output_padding": (1, 1)},
         "ConvTranspose3d(): output_padding must be an int or 3 ints, but got (1, 1)"),
        (pyconv.Conv3d, (4, 6, 3), {"padding_mode": "zero"},
         "padding_mode must be one of {'zeros', 'reflect', 'replicate', 'circular'}, but got "
         "padding_mode='zero'"),
    ],
)  # fmt: skip
def test_construction_errors(cls, args, kwargs, text):
    with pytest.raises(ValueError, match=re.escape(text)):
        cls(*args, **kwargs)


def test_transposed_layer_is_the_gradient_of_the_conv_layer(rng):
    # ConvTranspose2d with a Conv2d's weight maps that layer's output shape back to its input's
    conv = pyconv.Conv2d(4, 6, 3, stride=2, padding=1, bias=False, rng=0)
    up = pyconv.ConvTranspose2d(6, 4, 3, stride=2, padding=1, bias=False)
    up.load_state_dict({"weight": conv.weight})
    x = rng.standard_normal((2, 4, 10, 10)).astype(np.float32)
    g = rng.standard_normal(conv(x).shape).astype(np.float32)
    np.testing.assert_array_equal(
        up(g, output_size=x.shape[2:]), pyconv.grad.conv2d_input(x.shape, conv.weight, g, 2, 1)
    )


def test_the_transposed_layers_checks_are_all_reached(raise_sites, torch):
    # the raises tests/test_nn.py leaves to this file: each compared with torch's words
    # where torch has them (above), reached here
    calls = [
        lambda: pyconv.ConvTranspose2d(2, 2, 3, padding_mode="reflect"),
        lambda: pyconv.ConvTranspose2d(2, 2, 3, padding="same"),
        lambda: pyconv.ConvTranspose2d(3, 2, 3)(np.zeros((1, 3, 5, 5), np.float32), 7),
        lambda: pyconv.ConvTranspose2d(3, 2, 3)(np.zeros((1, 3, 5, 5), np.float32), [7]),
        lambda: pyconv.ConvTranspose2d(3, 2, 3)(np.zeros((1, 3, 5, 5), np.float32), [99, 99]),
    ]
    raised = []
    for call in calls:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        raised.append(info.value)
    module = pyconv.nn
    functions = ("_check_transposed", "_output_padding")
    lines = raise_sites.lines(module) - raise_sites.lines(module, skip_functions=functions)
    reached = {raise_sites.line_of(e, module) for e in raised}
    assert lines <= reached, sorted(lines - reached)
    with pytest.raises(TypeError, match="output_size must be a sequence of ints, but got int"):
        calls[2]()
