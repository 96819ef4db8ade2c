"""Numba kernels: pure functions over arrays. Options live in :mod:`valuation.kernels._jit`."""
