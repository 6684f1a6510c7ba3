"""pyconv's own backends.

``cython`` (compiled direct kernels), ``winograd`` (compiled Winograd for 3x3 layers),
``numpy`` (the reference) and ``torch``.
"""
