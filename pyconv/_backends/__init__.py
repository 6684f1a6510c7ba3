"""pyconv's own backends: ``cython`` (compiled kernels) and ``numpy`` (the reference)."""
