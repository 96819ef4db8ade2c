"""The stress kernel on an NVIDIA GPU (numba-cuda): the CPU kernel's model, streams and bits.

Nothing here is imported by the CPU paths: :mod:`~valuation.kernels.cuda.select` tells, without
importing numba-cuda, whether a GPU can run the stress kernel; :mod:`~valuation.kernels.cuda.paths`
(which needs the optional ``numba-cuda``) runs it.
"""
