"""``Module`` and ``Sequential``: the part of ``torch.nn.Module`` that inference needs.

A model is a tree of layers.  Like torch, pyconv names each parameter by the path of
attributes that leads to it (``layer1.0.conv1.weight``), so a state dict saved from a torch
model loads into a pyconv model built with the same attribute names.  Unlike torch there is
no registration magic: a module's children are its attributes that are layers (a
:class:`Module`, or anything with ``state_dict`` and ``load_state_dict`` methods, such as
:class:`pyconv.Conv2d`), in the order they were assigned; its own arrays are the
attributes its class lists in ``_param_names``.  There are no gradients, no training mode
and no devices: every layer computes in inference ("eval") mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._state import load_state

__all__ = ["Identity", "Module", "Sequential"]


def _is_layer(value: Any) -> bool:
    if isinstance(value, Module):
        return True
    return (
        not isinstance(value, type)
        and callable(getattr(value, "state_dict", None))
        and callable(getattr(value, "load_state_dict", None))
    )


def _indent(text: str, spaces: int) -> str:
    """Indent every line but the first (torch's ``_addindent``)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of pyconv's layers and models (inference only).

    Subclasses set their layers as attributes in ``__init__`` and define ``forward``;
    layers holding arrays list their names in the class attribute ``_param_names``, in
    torch's state-dict order (parameters, then buffers).

    Examples
    --------
    >>> import numpy as np, pyconv
    >>> class Net(pyconv.nn.Module):
    ...     def __init__(self):
    ...         self.conv = pyconv.Conv2d(1, 2, 3, rng=0)
    ...         self.head = pyconv.nn.Sequential(pyconv.nn.ReLU(), pyconv.nn.Flatten())
    ...     def forward(self, x):
    ...         return self.head(self.conv(x))
    >>> net = Net()
    >>> list(net.state_dict())
    ['conv.weight', 'conv.bias']
    >>> net(np.zeros((4, 1, 5, 5), dtype=np.float32)).shape
    (4, 18)
    """

    _param_names: tuple[str, ...] = ()

    def forward(self, input: ArrayLike) -> Any:
        """Compute the layer's output (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, input: ArrayLike) -> Any:
        return self.forward(input)

    def eval(self) -> Module:
        """Return self: pyconv's layers always compute in inference mode (torch's ``eval()``)."""
        return self

    def named_children(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(name, layer)`` for the attributes that are layers, in assignment order."""
        for name, value in vars(self).items():
            if _is_layer(value):
                yield name, value

    def children(self) -> Iterator[Any]:
        """Yield the child layers."""
        for _, child in self.named_children():
            yield child

    def state_dict(self) -> dict[str, np.ndarray]:
        """Return every array of the model under torch's dotted names.

        The arrays are the layers' own (not copies), as torch's tensors share storage.
        """
        out = {}
        for name in self._param_names:
            value = getattr(self, name, None)
            if value is not None:
                out[name] = value
        for child_name, child in self.named_children():
            for key, value in child.state_dict().items():
                out[f"{child_name}.{key}"] = value
        return out

    def load_state_dict(self, state_dict: Mapping | str | os.PathLike, strict: bool = True):
        """Copy arrays in by name, from a mapping or an ``.npz`` / ``.safetensors`` file.

        Parameters
        ----------
        state_dict : mapping of str to array_like, or str / os.PathLike
            Values may be NumPy arrays, array-likes or torch tensors.  Files are read
            without pickle, as :meth:`pyconv.Conv2d.load_state_dict` reads them.
        strict : bool, default True
            Raise if keys are missing or unexpected (shape mismatches always raise).

        Returns
        -------
        IncompatibleKeys
            ``missing_keys`` and ``unexpected_keys``, as torch returns them.

        Raises
        ------
        ValueError
            torch's "Error(s) in loading state_dict for NAME" text, listing every problem.
        """
        return load_state(self, state_dict, strict)

    def extra_repr(self) -> str:
        """Return the layer's settings for its ``repr`` (torch's convention)."""
        return ""

    def __repr__(self) -> str:
        # torch's Module.__repr__: settings on one line, or one line per child
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_indent(repr(c), 2)}" for name, c in self.named_children()]
        lines = extra_lines + child_lines
        main = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


class Sequential(Module):
    """Layers applied in order, named ``0``, ``1``, ... (``torch.nn.Sequential``).

    Parameters
    ----------
    *layers : layer
        Callables with ``state_dict`` / ``load_state_dict`` (pyconv's layers); or a single
        dict mapping names to layers, as torch's ``Sequential(OrderedDict(...))``.

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.Sequential(pyconv.Conv2d(1, 2, 3), pyconv.nn.ReLU())
    Sequential(
      (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
      (1): ReLU()
    )
    """

    def __init__(self, *layers: Any) -> None:
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            named = list(layers[0].items())
        else:
            named = [(str(i), layer) for i, layer in enumerate(layers)]
        for name, layer in named:
            if not _is_layer(layer):
                raise TypeError(
                    f"Sequential(): {name!r} is a {type(layer).__name__}, not a layer (a "
                    "pyconv.nn.Module or a pyconv.Conv2d)"
                )
            setattr(self, name, layer)

    def forward(self, input: ArrayLike) -> Any:
        """Apply the layers in order."""
        for layer in self.children():
            input = layer(input)
        return input

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __iter__(self) -> Iterator[Any]:
        return self.children()

    def __getitem__(self, index: int | slice) -> Any:
        named = list(self.named_children())
        if isinstance(index, slice):  # a Sequential of those layers, names kept (as torch)
            return Sequential(dict(named[index]))
        return named[index][1]


class Identity(Module):
    """Return the input unchanged (``torch.nn.Identity``), e.g. in place of a folded batch norm.

    Examples
    --------
    >>> import pyconv
    >>> pyconv.nn.Identity()([1.0, 2.0])
    [1.0, 2.0]
    """

    def forward(self, input: Any) -> Any:
        """Return ``input``."""
        return input
