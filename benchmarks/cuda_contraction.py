"""The GPU's primitives as a contracting compiler builds them, evaluated exactly (no GPU needed).

Runs the stress kernel's exponential, logarithm and inverse normal on the device script's
20,000 probe inputs (``cuda_diagnostics.probe_inputs``) two ways, both exact to the bit:

* every operation rounded apart (Python's float arithmetic: IEEE double), which must give the
  CPU kernel's bits;
* each ``a·b + c`` of the Horner and Estrin steps fused into one rounding, in the pattern
  NVVM's default ``-fma=1`` writes (a fused multiply-add evaluated in rational arithmetic).

and prints, for each primitive, on how many inputs each way parts from the CPU kernel, beside
what the GPU gave on an H200 when its kernels were linked with link-time optimisation
(:data:`GPU_WITH_LTO`), and whether it reproduces the logged GPU values (:data:`LOGGED`)::

    python benchmarks/cuda_contraction.py      # about ten seconds
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cuda_diagnostics as diag

from valuation.kernels.stress import exp_log as E
from valuation.kernels.stress import normals as N

# Mismatching inputs of 20,000 on the H200, GPU against CPU (benchmarks/README.md).
GPU_WITH_LTO = {"exp_scalar": 205, "inverse_normal": 12134, "step_normal": 10797, "log_positive": 0}
# (primitive, input, GPU value) logged on the H200; a step normal's input is its Philox word.
LOGGED = [
    ("inverse_normal", "0x1.6d7b49bd39f30p-2", "-0x1.77844516fa710p-2"),
    ("inverse_normal", "0x1.b957c7f0e7ed4p-1", "0x1.16deef9ea1e9fp+0"),
    ("inverse_normal", "0x1.980406aecfb44p-3", "-0x1.b05391ba722bdp-1"),
    ("inverse_normal", "0x1.b16aefae6b0d0p-3", "-0x1.99ffbaa3f90afp-1"),
    ("inverse_normal", "0x1.5cdb44e86aef0p-2", "-0x1.a47648578ae32p-2"),
    ("step_normal", "0xcf7cbd38", "0x1.c26bedeb2e34bp-1"),
    ("step_normal", "0x26d644d", "-0x1.2c51ed2fdb664p+1"),
    ("step_normal", "0xbc6538f", "-0x1.af5bb1cc48823p+0"),
    ("step_normal", "0xdb56020c", "0x1.10e354e62801dp+0"),
    ("step_normal", "0xdc0fc6d2", "0x1.141ec4e59993fp+0"),
    ("exp_scalar", "0x1.d151c288818a0p-1", "0x1.3d9ed6df2adecp+1"),
    ("exp_scalar", "0x1.4c7cff8dc3fdep+2", "0x1.68c86df056794p+7"),
    ("exp_scalar", "0x1.2028591df3f8cp+2", "0x1.68f4d2d30508cp+6"),
    ("exp_scalar", "-0x1.3f8e6e456e510p-2", "0x1.76bfe092ac7e7p-1"),
    ("exp_scalar", "-0x1.1c69ce220ce20p-2", "0x1.83d57d23c965bp-1"),
]
Fma = Callable[[float, float, float], float]


def fused(a: float, b: float, c: float) -> float:
    """``a·b + c`` with one rounding (exact rational arithmetic, then one IEEE rounding)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def apart(a: float, b: float, c: float) -> float:
    """``a·b + c`` with two roundings, as the CPU kernel computes it."""
    return a * b + c


def horner(fma: Fma, coefficients: Sequence[float], x: float) -> float:
    acc = coefficients[0]
    for c in coefficients[1:]:
        acc = fma(acc, x, c)
    return acc


def log_positive(fma: Fma, x: float) -> float:
    """fdlibm's logarithm (:func:`valuation.kernels.stress.log_positive`)."""
    m, e = math.frexp(x)
    m, e = 2.0 * m, e - 1
    if m > E._SQRT2:
        m, e = 0.5 * m, e + 1
    f, dk = m - 1.0, float(e)
    hfsq = f * (f * 0.5)
    s = f / (f + 2.0)
    z = s * s
    w = z * z
    t1 = fma(w, fma(w, E._LG6, E._LG4), E._LG2)
    t2 = z * fma(w, fma(w, fma(w, E._LG7, E._LG5), E._LG3), E._LG1)
    r = fma(w, t1, t2)  # t2 + w·t1
    return dk * E._LN2_HI - ((hfsq - fma(dk, E._LN2_LO, s * (hfsq + r))) - f)


def inverse_normal(fma: Fma, u: float) -> float:
    """Acklam's inverse normal (:func:`valuation.kernels.stress.inverse_normal`)."""
    if u < N._P_LOW or u > 1.0 - N._P_LOW:
        q = math.sqrt(-2.0 * log_positive(fma, u if u < 0.5 else 1.0 - u))
        c = (N._C0, N._C1, N._C2, N._C3, N._C4, N._C5)
        z = horner(fma, c, q) / horner(fma, (N._D0, N._D1, N._D2, N._D3, 1.0), q)
        return z if u < 0.5 else -z
    q = u - 0.5
    r = q * q
    a = (N._A0, N._A1, N._A2, N._A3, N._A4, N._A5)
    b = (N._B0, N._B1, N._B2, N._B3, N._B4, 1.0)
    return q * horner(fma, a, r) / horner(fma, b, r)


def exp_scalar(fma: Fma, x: float) -> float:
    """Cody-Waite and Estrin's scheme (:func:`valuation.kernels.stress.exp_scalar`)."""
    xc = min(max(x, E._EXP_MIN), E._EXP_MAX)
    nf = math.floor(fma(xc, E._INV_LN2, 0.5))
    r = fma(nf, -E._LN2_LO, fma(nf, -E._LN2_HI, xc))
    r2 = r * r
    r4 = r2 * r2
    c0 = fma(r2, fma(r, E._E3, E._E2), 1.0 + r)
    c1 = fma(r2, fma(r, E._E7, E._E6), fma(r, E._E5, E._E4))
    c2 = fma(r2, fma(r, E._E11, E._E10), fma(r, E._E9, E._E8))
    c3 = fma(r, E._E13, E._E12)
    p = fma(r4 * r4, fma(c3, r4, c2), fma(r4, c1, c0))
    return math.ldexp(0.0 if x < E._EXP_MIN else p, int(nf))


def uniform(word: int) -> float:
    return (float(word) + 0.5) * (1.0 / 4294967296.0)


def main() -> None:
    inp = diag.probe_inputs(20_000)
    cpu = diag.probe_cpu(inp, 77)
    n = inp["u"].shape[0]
    ways: dict[str, Fma] = {"rounded apart": apart, "fused": fused}
    cases: dict[str, tuple[Callable[[Fma, float], float], Sequence[float]]] = {
        "exp_scalar": (exp_scalar, inp["x"]),
        "inverse_normal": (inverse_normal, inp["u"]),
        "step_normal": (inverse_normal, cpu["uniform"]),
        "log_positive": (log_positive, inp["u"]),
    }
    for name, (f, xs) in cases.items():
        counts = {
            way: int(sum(f(fma, float(xs[i])) != cpu[name][i] for i in range(n)))
            for way, fma in ways.items()
        }
        print(f"{name}: inputs parting from the CPU of {n}: {counts}; GPU: {GPU_WITH_LTO[name]}")
    functions = {"exp_scalar": exp_scalar, "inverse_normal": inverse_normal}
    same = 0
    for name, x, gpu in LOGGED:
        arg = uniform(int(x, 16)) if name == "step_normal" else float.fromhex(x)
        same += functions.get(name, inverse_normal)(fused, arg).hex() == gpu
    print(f"logged GPU values reproduced with fused steps: {same} of {len(LOGGED)}")


if __name__ == "__main__":
    main()
