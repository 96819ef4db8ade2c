"""Expected income of a data product whose registration certificate lives through events.

The certificate is not the data's economic life: the data earns for its whole economic life
``n`` and the certificate enters as events of the same process the stress test simulates
(SPEC §5 and §6, :mod:`valuation.kernels.stress`):

* **revocation** at a constant hazard ``h`` per year while the certificate is alive; the income
  falls to ``revoke_keep`` of what it would have been from then on;
* **expiry** at ``e_1`` (years from the valuation date) and every ``validity`` years after a
  renewal: renewed with probability ``p``, else it lapses and the income falls to
  ``lapse_keep``;
* after a revocation or a lapse there is no certificate and no further event.

Notes
-----
Let ``M(s)`` be the income multiplier at time ``s`` (1 while the certificate is alive). With
``e_0 = 0`` and ``P_j = p^(j-1)`` the probability of reaching period ``j = [e_(j-1), e_j)``
through renewals, inside period ``j``::

    P(alive at s)        = P_j·exp(-h·s)
    P(revoked by s)      = R_j + P_j·(exp(-h·e_(j-1)) - exp(-h·s))
    P(lapsed by s)       = L_j                       (constant inside the period)
    E[M(s)] = 1 - (1 - revoke_keep)·P(revoked by s) - (1 - lapse_keep)·P(lapsed by s)
            = α_j + β_j·exp(-h·s)

with ``R_j`` and ``L_j`` the revocation and lapse probabilities accumulated before the period.
The cash flow of year ``t`` is ``F_t = c·q0^t`` (``q0 = (1+g)(1-d)``), received and discounted
at ``s_t = t - τ`` (``τ = 1/2`` mid-year, 0 end-year), and carries the certificate's state at
``s_t``. So each certificate period contributes two geometric sums::

    c·(1+k)^τ·[α_j·Σ q^t + β_j·e^(h·τ)·Σ (q·e^(-h))^t],   q = q0/(1+k),

over the years whose ``s_t`` falls in the period, and the partial final year (a fraction ``f``
of a year's cash flow, at ``m + f/2`` or ``m + f``) takes ``E[M]`` at its own time. The
tests check this against a year-by-year sum and a Monte Carlo simulation of the events.
"""

from __future__ import annotations

import math

from valuation.kernels._jit import jit_inner


@jit_inner
def geometric_sum(log_r: float, first: float, last: float) -> float:
    """Return ``Σ_{t=first}^{last} r^t`` for whole numbers ``first <= last`` (0 otherwise).

    Computed as ``r^first·(r^n - 1)/(r - 1)`` with ``expm1``, exact near ``r = 1``.
    """
    if last < first:
        return 0.0
    n = last - first + 1.0
    if log_r == 0.0:
        return n
    return math.exp(first * log_r) * math.expm1(n * log_r) / math.expm1(log_r)


@jit_inner
def next_period(
    hazard: float,
    renew_p: float,
    validity: float,
    reach: float,
    surv_start: float,
    revoked: float,
    lapsed: float,
    end: float,
) -> tuple[float, float, float, float, float, float]:
    """Return the state at the start of the period after the one ending at expiry ``end``.

    The state is ``(P_j, exp(−h·e_(j−1)), R_j, L_j, e_(j−1), e_j)``: the probability of having
    been renewed into the period, the survival of revocation to its start, the revocation and
    lapse probabilities accumulated before it, and its start and end (``inf`` after the last
    expiry when ``validity ≤ 0``).
    """
    surv_end = math.exp(-hazard * end)
    revoked += reach * (surv_start - surv_end)
    lapsed += reach * surv_end * (1.0 - renew_p)
    reach *= renew_p
    return reach, surv_end, revoked, lapsed, end, end + validity if validity > 0.0 else math.inf


@jit_inner
def certificate_income(
    cash: float,
    growth: float,
    decay: float,
    discount: float,
    life: float,
    mid_year: float,
    hazard: float,
    revoke_keep: float,
    first_expiry: float,
    validity: float,
    renew_p: float,
    lapse_keep: float,
) -> float:
    """Return the present value of ``F_t = cash·q0^t`` over ``life`` years under certificate events.

    Parameters
    ----------
    cash
        Year-0 attributable after-tax income (the cash flow of year ``t`` is ``cash·q0^t``).
    growth, decay, discount
        Annual growth, obsolescence decay and discount rate.
    life
        Remaining economic life in years (finite, fractional allowed).
    mid_year
        1.0 for mid-year discounting, 0.0 for end-year.
    hazard
        Revocation hazard per year while the certificate is alive (0 = none).
    revoke_keep
        Share of the income kept after a revocation.
    first_expiry
        Years from the valuation date to the certificate's next expiry (``inf`` = no expiry
        within reach, e.g. no certificate left).
    validity
        Years a renewal adds (3 for data-IP certificates).
    renew_p
        Probability of renewal at each expiry.
    lapse_keep
        Share of the income kept after a lapse.

    Returns
    -------
    float
        The expected present value; 0 for a non-positive cash flow or life.
    """
    if cash <= 0.0 or life <= 0.0:
        return 0.0
    if math.isinf(life):
        return math.inf
    log_q0 = math.log((1.0 + growth) * (1.0 - decay))
    log_k = math.log1p(discount)
    log_q = log_q0 - log_k
    tau = 0.5 if mid_year > 0.0 else 0.0
    shift = math.exp(tau * log_k)  # (1+k)^τ
    m = math.floor(life)
    f = life - m
    last_time = m + (0.5 * f if tau > 0.0 else f) if f > 0.0 else m - tau
    lr = 1.0 - revoke_keep
    ll = 1.0 - lapse_keep
    e_hazard_tau = math.exp(hazard * tau)
    # state at the start of period j: P_j, exp(-h·e_(j-1)), R_j, L_j
    reach = 1.0
    start = 0.0
    surv_start = 1.0
    revoked = 0.0
    lapsed = 0.0
    end = max(first_expiry, 0.0)
    pv = 0.0
    part_time = m + (0.5 * f if tau > 0.0 else f)
    part_done = f <= 0.0
    while True:
        alpha = 1.0 - lr * (revoked + reach * surv_start) - ll * lapsed
        beta = lr * reach
        # whole years t with start <= t - τ < end
        first_t = max(1.0, math.ceil(start + tau))
        last_t = m if math.isinf(end) else min(m, math.ceil(end + tau) - 1.0)
        if last_t >= first_t:
            pv += alpha * geometric_sum(log_q, first_t, last_t)
            if beta != 0.0:
                pv += beta * e_hazard_tau * geometric_sum(log_q - hazard, first_t, last_t)
        if not part_done and part_time >= start and part_time < end:
            factor = alpha + beta * math.exp(-hazard * part_time)
            part = f * math.exp((m + 1.0) * log_q0 - part_time * log_k)
            pv += factor * part / shift
            part_done = True
        if math.isinf(end) or end > last_time:
            break
        reach, surv_start, revoked, lapsed, start, end = next_period(
            hazard, renew_p, validity, reach, surv_start, revoked, lapsed, end
        )
    return cash * shift * pv


__all__ = ["certificate_income", "geometric_sum", "next_period"]
