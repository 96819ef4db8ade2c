"""Time-value-of-money primitives with numpy-financial's conventions and signs.

The stress engine amortises loans with :func:`pmt`, :func:`ipmt` and :func:`ppmt`; valuation
discounts with :func:`npv` and :func:`pv`. Every function is plain NumPy: scalars give a
``float``, arrays broadcast against each other and give an ``ndarray``.

Notes
-----
Signs follow the cash-flow convention of numpy-financial (and of spreadsheets): money paid out
is negative, money received positive. All of :func:`pv`, :func:`fv`, :func:`pmt`, :func:`nper`
and :func:`rate` solve the same equation for one of its unknowns::

    fv + pv·(1+r)^n + pmt·(1 + r·w)·((1+r)^n − 1)/r = 0

with ``w = 0`` for payments at the end of each period (``when="end"``) and ``w = 1`` at the
beginning (``when="begin"``); at ``r = 0`` the annuity term is ``pmt·n``. ``(1+r)^n`` and
``((1+r)^n − 1)/r`` are computed with ``log1p``/``expm1``, so they stay exact for rates near 0.
Rates must exceed −1; a rate below −1 gives NaN.

:func:`npv` discounts the first cash flow at ``t = 0``, i.e. it is *not* discounted (unlike a
spreadsheet's ``NPV()``, which starts at ``t = 1``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from valuation.exceptions import DpvInputError

When = Literal["end", "begin"]

_WHEN_FLAG: dict[str, float] = {"end": 0.0, "begin": 1.0}
_MSG_WHEN = "must be 'end' or 'begin', got {value!r}"
_MSG_ONE_DIMENSIONAL = "must be a one-dimensional sequence of cash flows, got shape {shape}"
# Below this |rate| the derivative of ((1+r)^n − 1)/r is taken from its Taylor series: the
# closed form subtracts two nearly equal numbers there.
_SMALL_RATE = 1e-6
# irr: a polynomial root whose imaginary part is within this fraction of its modulus is a
# candidate real root (a double root comes back from the eigenvalue solver as a pair with an
# imaginary part of order sqrt(eps), a triple root of order eps^(1/3)).
_IRR_IMAG_TOL = 1e-5
# irr: a polished candidate is a root when |NPV| is below this fraction of Σ|discounted flow|.
_IRR_RESIDUAL_TOL = 1e-9
_IRR_POLISH_ITERATIONS = 60

FloatOrArray = float | NDArray[np.float64]


def _when_flag(when: str) -> float:
    try:
        return _WHEN_FLAG[when]
    except (KeyError, TypeError):
        raise DpvInputError(_MSG_WHEN.format(value=when), field="when") from None


def _floats(*args: ArrayLike) -> list[NDArray[np.float64]]:
    return [np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(*args)]


def _result(x: NDArray[np.float64]) -> FloatOrArray:
    return float(x) if x.ndim == 0 else x


def _growth_factors(
    rate: NDArray[np.float64], nper: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(1+r)^n`` and the annuity accumulation factor ``((1+r)^n − 1)/r``."""
    log_growth = nper * np.log1p(rate)
    compound = np.exp(log_growth)
    accumulation = np.divide(
        np.expm1(log_growth), rate, out=np.array(nper, dtype=np.float64), where=rate != 0.0
    )
    return compound, accumulation


def _future_value(
    r: NDArray[np.float64],
    n: NDArray[np.float64],
    payment: NDArray[np.float64],
    present: NDArray[np.float64],
    w: float,
) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        compound, accumulation = _growth_factors(r, n)
        return -(present * compound + payment * (1.0 + r * w) * accumulation)


def _payment(
    r: NDArray[np.float64],
    n: NDArray[np.float64],
    present: NDArray[np.float64],
    future: NDArray[np.float64],
    w: float,
) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        compound, accumulation = _growth_factors(r, n)
        return -(future + present * compound) / ((1.0 + r * w) * accumulation)


def _interest_part(
    r: NDArray[np.float64],
    period: NDArray[np.float64],
    n: NDArray[np.float64],
    present: NDArray[np.float64],
    future: NDArray[np.float64],
    w: float,
) -> NDArray[np.float64]:
    payment = _payment(r, n, present, future, w)
    balance = _future_value(r, period - 1.0, payment, present, w)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        interest = balance * r
        if w == 1.0:
            interest = np.where(period == 1.0, 0.0, interest / (1.0 + r))
    return np.where((period < 1.0) | (period > n), np.nan, interest)


def npv(rate: ArrayLike, values: ArrayLike) -> FloatOrArray:
    """Net present value of cash flows at the start of periods ``0, 1, 2, …``.

    Parameters
    ----------
    rate
        Discount rate per period (> −1). Broadcasts against ``values.shape[:-1]``.
    values
        Cash flows, the last axis being time; ``values[..., 0]`` is at ``t = 0``.

    Returns
    -------
    float or numpy.ndarray
        ``Σ_t values[t] / (1 + rate)^t``.

    Notes
    -----
    numpy-financial's convention: the first cash flow is not discounted. A spreadsheet's
    ``NPV(r, v1, …, vn)`` equals ``npv(r, [0, v1, …, vn])``.

    Examples
    --------
    >>> round(npv(0.05, [-15000, 1500, 2500, 3500, 4500, 6000]), 6)
    122.894855
    """
    flows = np.asarray(values, dtype=np.float64)
    if flows.ndim == 0:
        raise DpvInputError(_MSG_ONE_DIMENSIONAL.format(shape=flows.shape), field="values")
    discount = np.asarray(rate, dtype=np.float64)[..., np.newaxis]
    periods = np.arange(flows.shape[-1], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        factors = np.exp(-periods * np.log1p(discount))
        total = np.sum(flows * factors, axis=-1)
    return _result(np.asarray(total, dtype=np.float64))


def fv(
    rate: ArrayLike, nper: ArrayLike, pmt: ArrayLike, pv: ArrayLike, when: When = "end"
) -> FloatOrArray:
    """Future value after ``nper`` periods of a present amount and a level payment.

    Parameters
    ----------
    rate
        Interest rate per period (> −1).
    nper
        Number of periods.
    pmt
        Payment each period (negative when paid out).
    pv
        Present value (negative when paid out).
    when
        ``"end"`` (ordinary annuity) or ``"begin"`` (annuity due).

    Returns
    -------
    float or numpy.ndarray
        The future value, with the sign that balances the cash flows.

    Notes
    -----
    ``fv = −(pv·(1+r)^n + pmt·(1 + r·w)·((1+r)^n − 1)/r)``, ``w = 1`` for ``"begin"``.

    Examples
    --------
    Save 2,000 a year for 20 years at 7.5%:

    >>> round(fv(0.075, 20, -2000, 0), 4)
    86609.3627
    >>> round(fv(0.075, 20, -2000, 0, when="begin"), 4)
    93105.0649
    """
    w = _when_flag(when)
    r, n, payment, present = _floats(rate, nper, pmt, pv)
    return _result(_future_value(r, n, payment, present, w))


def pv(
    rate: ArrayLike, nper: ArrayLike, pmt: ArrayLike, fv: ArrayLike = 0.0, when: When = "end"
) -> FloatOrArray:
    """Present value of a level payment stream and a final amount.

    Parameters
    ----------
    rate
        Interest rate per period (> −1).
    nper
        Number of periods.
    pmt
        Payment each period (positive when received).
    fv
        Amount at the end of the last period.
    when
        ``"end"`` or ``"begin"``.

    Returns
    -------
    float or numpy.ndarray
        The present value, with the sign that balances the cash flows (receiving payments
        means paying the present value: a negative number).

    Notes
    -----
    ``pv = −(fv + pmt·(1 + r·w)·((1+r)^n − 1)/r) / (1+r)^n``.

    Examples
    --------
    >>> round(pv(0.07, 20, 12000), 4)
    -127128.1709
    """
    w = _when_flag(when)
    r, n, payment, future = _floats(rate, nper, pmt, fv)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        compound, accumulation = _growth_factors(r, n)
        present = -(future + payment * (1.0 + r * w) * accumulation) / compound
    return _result(present)


def pmt(
    rate: ArrayLike, nper: ArrayLike, pv: ArrayLike, fv: ArrayLike = 0.0, when: When = "end"
) -> FloatOrArray:
    """Level payment per period that amortises ``pv`` down to ``-fv`` over ``nper`` periods.

    Parameters
    ----------
    rate
        Interest rate per period (> −1).
    nper
        Number of periods (> 0).
    pv
        Present value (a loan received is positive).
    fv
        Amount at the end of the last period (default 0: fully amortised).
    when
        ``"end"`` or ``"begin"``.

    Returns
    -------
    float or numpy.ndarray
        The payment; negative for a positive loan.

    Notes
    -----
    ``pmt = −(fv + pv·(1+r)^n)·r / ((1 + r·w)·((1+r)^n − 1))``, and ``−(fv + pv)/n`` at
    ``r = 0``.

    Examples
    --------
    Monthly payment of a 15,000 five-year loan at 8% a year:

    >>> round(pmt(0.08 / 12, 60, 15000), 6)
    -304.145914
    """
    w = _when_flag(when)
    r, n, present, future = _floats(rate, nper, pv, fv)
    return _result(_payment(r, n, present, future, w))


def ipmt(
    rate: ArrayLike,
    per: ArrayLike,
    nper: ArrayLike,
    pv: ArrayLike,
    fv: ArrayLike = 0.0,
    when: When = "end",
) -> FloatOrArray:
    """Interest part of the payment of period ``per`` (1-based) of a level-payment loan.

    Parameters
    ----------
    rate
        Interest rate per period (> −1).
    per
        Period, ``1 <= per <= nper``; NaN outside that range.
    nper
        Number of periods.
    pv
        Present value (a loan received is positive).
    fv
        Amount at the end of the last period.
    when
        ``"end"`` or ``"begin"``.

    Returns
    -------
    float or numpy.ndarray
        The interest part, with the sign of the payment.

    Notes
    -----
    With ``p = pmt(rate, nper, pv, fv, when)`` and ``b = fv(rate, per − 1, p, pv, when)`` (the
    balance, with the opposite sign, after ``per − 1`` periods), the interest part is
    ``b·r`` for payments at the end. For payments at the beginning a payment covers the
    interest accrued since the previous payment: ``b·r/(1 + r)``, and 0 for the first payment.

    Examples
    --------
    >>> round(ipmt(0.1 / 12, 1, 24, 2000), 6)
    -16.666667
    """
    w = _when_flag(when)
    r, period, n, present, future = _floats(rate, per, nper, pv, fv)
    return _result(_interest_part(r, period, n, present, future, w))


def ppmt(
    rate: ArrayLike,
    per: ArrayLike,
    nper: ArrayLike,
    pv: ArrayLike,
    fv: ArrayLike = 0.0,
    when: When = "end",
) -> FloatOrArray:
    """Principal part of the payment of period ``per`` (1-based): ``pmt − ipmt``.

    Parameters
    ----------
    rate
        Interest rate per period (> −1).
    per
        Period, ``1 <= per <= nper``; NaN outside that range.
    nper
        Number of periods.
    pv
        Present value (a loan received is positive).
    fv
        Amount at the end of the last period.
    when
        ``"end"`` or ``"begin"``.

    Returns
    -------
    float or numpy.ndarray
        The principal part, with the sign of the payment.

    Examples
    --------
    >>> round(ppmt(0.1 / 12, 1, 60, 55000), 6)
    -710.254126
    """
    w = _when_flag(when)
    r, period, n, present, future = _floats(rate, per, nper, pv, fv)
    payment = _payment(r, n, present, future, w)
    return _result(payment - _interest_part(r, period, n, present, future, w))


def nper(
    rate: ArrayLike, pmt: ArrayLike, pv: ArrayLike, fv: ArrayLike = 0.0, when: When = "end"
) -> FloatOrArray:
    """Return the number of periods for ``pv`` and a level payment to reach ``fv``.

    Parameters
    ----------
    rate
        Interest rate per period (> −1).
    pmt
        Payment each period.
    pv
        Present value.
    fv
        Target future value.
    when
        ``"end"`` or ``"begin"``.

    Returns
    -------
    float or numpy.ndarray
        The (fractional) number of periods; NaN where no number of periods balances the flows,
        ±inf where it takes forever.

    Notes
    -----
    With ``z = pmt·(1 + r·w)/r``: ``n = log((z − fv)/(z + pv)) / log(1 + r)``; at ``r = 0``
    ``n = −(fv + pv)/pmt``.

    Examples
    --------
    Years of saving 2,000 a year at 7.5% to reach 100,000:

    >>> round(nper(0.075, -2000, 0, 100000), 6)
    21.544944
    """
    w = _when_flag(when)
    r, payment, present, future = _floats(rate, pmt, pv, fv)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        z = payment * (1.0 + r * w) / r
        periods = np.log((z - future) / (z + present)) / np.log1p(r)
        periods = np.where(r == 0.0, -(future + present) / payment, periods)
    return _result(np.asarray(periods, dtype=np.float64))


def rate(
    nper: ArrayLike,
    pmt: ArrayLike,
    pv: ArrayLike,
    fv: ArrayLike = 0.0,
    when: When = "end",
    *,
    guess: ArrayLike = 0.1,
    tol: float = 1e-12,
    maxiter: int = 100,
) -> FloatOrArray:
    """Interest rate per period that balances ``pv``, ``nper`` payments and ``fv``.

    Parameters
    ----------
    nper
        Number of periods.
    pmt
        Payment each period.
    pv
        Present value.
    fv
        Future value.
    when
        ``"end"`` or ``"begin"``.
    guess
        Starting rate of the Newton iteration.
    tol
        Convergence: the last Newton step is smaller than ``tol`` (absolute, in rate units).
    maxiter
        Iterations before giving up.

    Returns
    -------
    float or numpy.ndarray
        The rate (> −1), NaN where the iteration does not converge.

    Notes
    -----
    Newton's method on ``f(r) = fv + pv·(1+r)^n + pmt·(1 + r·w)·((1+r)^n − 1)/r`` with its
    analytic derivative. A step that would leave the domain ``r > −1`` goes half way to −1
    instead. Because Newton converges quadratically, a last step below ``tol`` means the error
    is far below it.

    Examples
    --------
    Rate that turns 3,500 into 10,000 in 10 years:

    >>> round(rate(10, 0, -3500, 10000), 10)
    0.1106908537
    """
    w = _when_flag(when)
    n, payment, present, future, start = _floats(nper, pmt, pv, fv, guess)
    r = start.copy()
    converged = np.zeros(r.shape, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(maxiter):
            compound, accumulation = _growth_factors(r, n)
            d_compound = n * compound / (1.0 + r)
            series = 0.5 * n * (n - 1.0) * (1.0 + r * (n - 2.0) / 3.0)
            d_accumulation = np.where(
                np.abs(r) < _SMALL_RATE, series, (d_compound - accumulation) / r
            )
            timing = 1.0 + r * w
            residual = future + present * compound + payment * timing * accumulation
            slope = present * d_compound + payment * (w * accumulation + timing * d_accumulation)
            step = np.where(residual == 0.0, 0.0, residual / slope)
            proposal = r - step
            proposal = np.where(proposal <= -1.0, 0.5 * (r - 1.0), proposal)
            proposal = np.where(converged, r, proposal)
            converged |= np.abs(proposal - r) < tol
            r = proposal
            if converged.all():
                break
    return _result(np.where(converged & np.isfinite(r), r, np.nan))


def _irr_polish(flows: NDArray[np.float64], guess: float) -> float:
    """Newton-polish a root of ``NPV(r)`` in ``r``; NaN when it is no root after all."""
    periods = np.arange(flows.size, dtype=np.float64)
    r = guess
    if not r > -1.0:  # a root within rounding of -100% has no representable rate above it
        return np.nan
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for _ in range(_IRR_POLISH_ITERATIONS):
            factors = np.exp(-periods * np.log1p(r))
            value = float(flows @ factors)
            slope = float(-(periods * flows) @ factors) / (1.0 + r)
            if value == 0.0 or slope == 0.0 or not np.isfinite(slope):
                break
            proposal = r - value / slope
            if proposal <= -1.0:
                proposal = 0.5 * (r - 1.0)
            if abs(proposal - r) <= 4.0 * np.finfo(np.float64).eps * max(1.0, abs(r)):
                r = proposal
                break
            r = proposal
        factors = np.exp(-periods * np.log1p(r))
        value = float(flows @ factors)
        scale = float(np.abs(flows) @ factors)
    if not (np.isfinite(r) and r > -1.0 and np.isfinite(scale)):
        return np.nan
    return r if abs(value) <= _IRR_RESIDUAL_TOL * scale else np.nan


def irr(values: ArrayLike) -> float:
    """Return the internal rate of return: the rate > −1 nearest to 0 with ``npv`` zero.

    Parameters
    ----------
    values
        Cash flows at ``t = 0, 1, 2, …`` (one-dimensional); normally an investment (negative)
        first.

    Returns
    -------
    float
        The internal rate of return per period; NaN when no rate > −1 makes the NPV zero
        (for example when every cash flow has the same sign).

    Notes
    -----
    ``NPV(r)·(1+r)^T`` is a polynomial of degree ``T`` in ``x = 1 + r``, so every candidate is
    an eigenvalue of its companion matrix (``numpy.roots``). Real roots with ``x > 0`` are taken
    with a relative tolerance on the imaginary part (a double root comes back as a nearly real
    pair), polished by Newton's method on the NPV itself and kept only if the NPV there is zero
    relative to the size of the discounted flows. Of those, the one nearest to 0 is returned,
    which is numpy-financial's choice when several rates solve the equation.

    Examples
    --------
    >>> round(irr([-100, 39, 59, 55, 20]), 6)
    0.280948
    >>> irr([-1, -2, -3])
    nan
    """
    flows = np.asarray(values, dtype=np.float64)
    if flows.ndim != 1:
        raise DpvInputError(_MSG_ONE_DIMENSIONAL.format(shape=flows.shape), field="values")
    nonzero = np.flatnonzero(flows)
    if nonzero.size == 0 or not np.all(np.isfinite(flows)):
        return np.nan
    # Leading zeros multiply the NPV by a positive power of 1/(1+r) and trailing zeros change
    # nothing, so neither moves a root; dropping them keeps spurious roots at 0 out of np.roots.
    flows = flows[nonzero[0] : nonzero[-1] + 1]
    if not ((flows > 0.0).any() and (flows < 0.0).any()):
        return np.nan
    # Σ_t c_t·x^(T−t) with x = 1 + r: the coefficients in numpy.roots order are the flows.
    roots = np.roots(flows)
    candidates = roots[
        (np.abs(roots.imag) <= _IRR_IMAG_TOL * np.abs(roots)) & (roots.real > 0.0)
    ].real
    best = np.nan
    for x in candidates:
        r = _irr_polish(flows, float(x) - 1.0)
        if np.isfinite(r) and not abs(r) >= abs(best):
            best = r
    return float(best)


def mirr(values: ArrayLike, finance_rate: float, reinvest_rate: float) -> float:
    """Return the modified internal rate of return.

    Parameters
    ----------
    values
        Cash flows at ``t = 0, 1, …, T`` (one-dimensional), with at least one positive and
        one negative flow.
    finance_rate
        Rate at which the negative flows (the financing) are discounted to ``t = 0``.
    reinvest_rate
        Rate at which the positive flows are reinvested until ``t = T``.

    Returns
    -------
    float
        ``(FV_T(positive flows at reinvest_rate) / −PV_0(negative flows at finance_rate))^(1/T)
        − 1``; NaN when all flows have one sign.

    Examples
    --------
    >>> round(mirr([-120000, 39000, 30000, 21000, 37000, 46000], 0.10, 0.12), 8)
    0.12609413
    """
    flows = np.asarray(values, dtype=np.float64)
    if flows.ndim != 1:
        raise DpvInputError(_MSG_ONE_DIMENSIONAL.format(shape=flows.shape), field="values")
    positive = flows > 0.0
    negative = flows < 0.0
    if not (positive.any() and negative.any()):
        return np.nan
    horizon = flows.size - 1
    periods = np.arange(flows.size, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        grown = np.exp((horizon - periods) * np.log1p(reinvest_rate))
        discounted = np.exp(-periods * np.log1p(finance_rate))
        future_inflows = float(np.where(positive, flows, 0.0) @ grown)
        present_outflows = float(-np.where(negative, flows, 0.0) @ discounted)
        return float(np.expm1(np.log(future_inflows / present_outflows) / horizon))


__all__ = [
    "When",
    "npv",
    "pv",
    "fv",
    "pmt",
    "ipmt",
    "ppmt",
    "nper",
    "rate",
    "irr",
    "mirr",
]
