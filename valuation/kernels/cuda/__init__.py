"""The stress kernel on an NVIDIA GPU (numba-cuda): the CPU kernel's model, streams and bits.

* :mod:`~valuation.kernels.cuda.select`: which device runs (``cpu``, ``cuda``, ``auto``);
  imports numba-cuda only when a GPU is asked for, so the CPU paths work without it;
* :mod:`~valuation.kernels.cuda.prep`: the constants the host computes for the device with the
  CPU kernel's own functions (no numba-cuda needed);
* :mod:`~valuation.kernels.cuda.primitives`: device twins of the CPU kernel's scalar functions;
* :mod:`~valuation.kernels.cuda.arguments`: the named groups of device arrays the kernels take,
  whose field order is their parameters' order;
* :mod:`~valuation.kernels.cuda.paths`: one thread per path, :func:`stress_paths_cuda`;
* :mod:`~valuation.kernels.cuda.book`: many loans per launch, :func:`stress_book_cuda`;
* :mod:`~valuation.kernels.cuda.gbm`: the bare GBM yardstick of the benchmark;
* :mod:`~valuation.kernels.cuda._numba_internals`: every numba-cuda internal the kernels lean
  on (compiling without contraction, the linker's rounding guard, the link options), why, the
  version each was checked on, and the error raised where one is missing.
"""
