"""The valuation range: P10/P50/P90 of each method and of the conclusion, by sampling.

:func:`range_batch` perturbs every uncertain input of a product around its point value and
multiplies each method's value by its measured model error, ``n_samples`` times, and reports
the quantiles. Sample ``s`` of product ``i`` draws twelve normals from the Philox stream keyed
by ``(seed, entity[i], s)`` (blocks 0, 1, 2; one normal per 32-bit word, the inverse normal
CDF of :func:`~valuation.kernels.stress.fast_normals4`), so a range never depends on the
threads, the batch or the machine.

Notes
-----
The samples of a product are computed a block of :data:`SAMPLE_BLOCK` at a time, one quantity
for the whole block per loop, so that LLVM vectorises every loop: Philox and the inverse normal
(:func:`~valuation.kernels.stress.step_normals`, which transforms the rare tail draws of all
twelve rows in one pass), and the exponentials and logarithms
written out in :mod:`valuation.kernels.stress.exp_log` (the C library's are calls, which keep a
loop scalar, and may differ by an ulp from one library to another).

The income method is :func:`~valuation.kernels.certificate.certificate_income` rearranged for
a block of samples. The certificate's periods and their event probabilities depend on the
product, not on the sampled growth, decay, discount rate or life, so the expected income
multiplier of year ``t`` (received at ``s_t = t − τ``), ``E[M(s_t)] = α_j + β_j·e^(−h·s_t)``,
is computed once per product; each sample then sums ``E[M(s_t)]·q^t`` year by year up to its
own whole life ``m`` (``q = (1+g)(1−d)/(1+k)``), adds its partial final year with ``E[M]`` at
that year's own time, and the tax-amortisation benefit. The plain-loop twin in the tests
(``tests/test_valuation/naive.py``) sums the same expectation period by period, year by year.
A product whose life could reach :data:`_MAX_YEARS` years (or is infinite) takes
:func:`~valuation.kernels.valuation.income_point` sample by sample instead.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit_inner, jit_parallel, prange
from valuation.kernels.certificate import next_period
from valuation.kernels.stress.exp_log import exp_into, log_into
from valuation.kernels.stress.normals import step_normals
from valuation.kernels.valuation import (
    BatchOutputs,
    CostInputs,
    IncomeInputs,
    MarketInputs,
    income_point,
)

QUANTILES: tuple[float, float, float] = (0.1, 0.5, 0.9)
SAMPLE_BLOCK = 256  # range samples computed together
_N_NORMALS = 12  # normals of one sample: three Philox blocks
# The largest normal of a 32-bit uniform through the inverse normal is about 6.3: a sampled
# life is at most life·exp(sd_life·_Z_BOUND).
_Z_BOUND = 7.0
# Longer sampled lives (or an infinite one) are valued sample by sample by income_point.
_MAX_YEARS = 2000
INCOME_ROWS = 14  # scratch rows of income_block


@jit_inner
def _quantile_sorted(x: np.ndarray, q: float) -> float:
    # numpy's default ("linear") definition on an already sorted array
    pos = q * (x.shape[0] - 1)
    lo = int(pos)  # pos >= 0, so truncation is the floor
    hi = min(lo + 1, x.shape[0] - 1)
    frac = pos - lo
    return x[lo] + frac * (x[hi] - x[lo])


@jit_inner
def _partition_below(x: np.ndarray, lo: int, hi: int, pivot: float, strict: bool) -> int:
    """Move the ``x[lo..hi]`` below ``pivot`` (``strict``) or not above it to the front.

    Returns where the rest begins. Branch-free (Lomuto's scheme with an unconditional swap
    and a conditional advance): random samples make a branch on the comparison a coin toss
    that the processor mispredicts half the time.
    """
    store = lo
    for j in range(lo, hi + 1):
        v = x[j]
        x[j] = x[store]
        x[store] = v
        store += (v < pivot) if strict else (v <= pivot)
    return store


@jit_inner
def _select(x: np.ndarray, lo: int, hi: int, k: int) -> None:
    """Reorder ``x[lo..hi]`` so that ``x[k]`` is its ``k − lo``-th smallest, no larger after.

    Quickselect with the median of the first, middle and last values as pivot and
    :func:`_partition_below`; after ``2·log2`` rounds without an end in sight the rest is
    sorted (a bounded worst case). The value at ``k`` is that of a full sort, bit for bit.
    """
    rounds = 0
    limit = 2 * int(math.log2(hi - lo + 2)) + 8
    while hi > lo:
        if rounds > limit:
            x[lo : hi + 1] = np.sort(x[lo : hi + 1])
            return
        rounds += 1
        a = x[lo]
        b = x[(lo + hi) >> 1]
        c = x[hi]
        pivot = max(min(a, b), min(max(a, b), c))  # the median of the three
        split = _partition_below(x, lo, hi, pivot, True)
        if k < split:
            hi = split - 1
            continue
        if split == lo:
            # nothing below the pivot: the values equal to it (at least one) come first
            split = _partition_below(x, lo, hi, pivot, False)
            if k < split:
                return
        lo = split


@jit_inner
def _quantiles_into(x: np.ndarray, out: np.ndarray) -> None:
    """Write P10/P50/P90 of ``x`` (numpy's "linear" definition) into ``out``; reorders ``x``.

    Only the order statistics either side of each position are needed: the median's by
    :func:`_select` over all of ``x``, P10's over the part below it and P90's over the part
    above, and each upper neighbour as the least of what lies between. The values of a full
    sort, bit for bit. Short arrays, and any with a NaN (which sorts last), are sorted.
    """
    n = x.shape[0]
    has_nan = False
    for v in x:
        has_nan |= math.isnan(v)
    if has_nan or n < 64:
        row = np.sort(x)
        for c in range(3):
            out[c] = _quantile_sorted(row, QUANTILES[c])
        return
    # n ≥ 64: the lower positions l10 < l50 < l90 < n − 1 are distinct
    l10 = int(QUANTILES[0] * (n - 1))
    l50 = int(QUANTILES[1] * (n - 1))
    l90 = int(QUANTILES[2] * (n - 1))
    _select(x, 0, n - 1, l50)
    _select(x, 0, l50 - 1, l10)
    _select(x, l50 + 1, n - 1, l90)
    ends = (l10, l50, l90)
    stops = (l50 + 1, n, n)
    for c in range(3):
        lo = ends[c]
        above = x[lo + 1]
        for j in range(lo + 2, stops[c]):
            above = min(above, x[j])
        out[c] = x[lo] + (QUANTILES[c] * (n - 1) - lo) * (above - x[lo])


@jit_inner
def certificate_schedule(
    hazard: float,
    revoke_keep: float,
    first_expiry: float,
    validity: float,
    renew_p: float,
    lapse_keep: float,
    tau: float,
    t_max: int,
    em: np.ndarray,
    starts: np.ndarray,
    alphas: np.ndarray,
    betas: np.ndarray,
) -> int:
    """Write the certificate's expected income multipliers; return the number of periods.

    ``em[t] = E[M(t − τ)]`` for whole years ``1 ≤ t ≤ t_max`` (``em`` at least ``t_max + 1``
    long), and, for the periods that begin by ``t_max + 1`` years, their starts and the
    ``α_j, β_j`` of ``E[M(s)] = α_j + β_j·e^(−h·s)`` inside them (``starts`` one longer than
    the count returned; its last entry is where the last period ends, ``inf`` if it never
    does). The state machine of :func:`~valuation.kernels.certificate.certificate_income`.
    """
    lr = 1.0 - revoke_keep
    ll = 1.0 - lapse_keep
    reach = 1.0
    start = 0.0
    surv_start = 1.0
    revoked = 0.0
    lapsed = 0.0
    end = max(first_expiry, 0.0)
    horizon = t_max + 1.0
    n_periods = 0
    while True:
        alpha = 1.0 - lr * (revoked + reach * surv_start) - ll * lapsed
        beta = lr * reach
        starts[n_periods] = start
        alphas[n_periods] = alpha
        betas[n_periods] = beta
        n_periods += 1
        first_t = max(1, math.ceil(start + tau))
        last_t = t_max if math.isinf(end) else min(t_max, math.ceil(end + tau) - 1)
        for t in range(first_t, last_t + 1):
            em[t] = alpha + beta * math.exp(-hazard * (t - tau))
        if math.isinf(end) or end > horizon:
            break
        reach, surv_start, revoked, lapsed, start, end = next_period(
            hazard, renew_p, validity, reach, surv_start, revoked, lapsed, end
        )
    starts[n_periods] = end
    return n_periods


@jit_inner
def income_block(
    z: np.ndarray,
    n: int,
    i: int,
    inc: IncomeInputs,
    em: np.ndarray,
    starts: np.ndarray,
    alphas: np.ndarray,
    betas: np.ndarray,
    n_periods: int,
    w: np.ndarray,
    bits: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write the income method's value of samples ``0..n−1`` of product ``i`` into ``out``.

    ``z`` holds the block's twelve rows of normals; ``em``, ``starts``, ``alphas``, ``betas``
    and ``n_periods`` are the product's :func:`certificate_schedule`; ``w`` is
    ``(INCOME_ROWS, ≥ n)`` float64 scratch and ``bits`` int64 scratch. The cash flow is
    positive and the life finite (the caller checks).

    Each loop writes one or two rows and the exponentials and logarithms never work in place:
    LLVM vectorises a loop only after checking at run time that its arrays do not overlap.
    """
    tmp, k_row, lq0, lk, life, q, acc, p = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
    part_time, a_row, b_row, e_part, e_surv, e_level = w[8], w[9], w[10], w[11], w[12], w[13]
    mid = inc.mid_year[i] > 0.0
    growth = inc.growth[i]
    decay = inc.decay[i]
    sd_growth = inc.sd_growth[i]
    sd_decay = inc.sd_decay[i]
    for s in range(n):
        g = max(growth + sd_growth * z[1, s], -0.95)
        d = min(max(decay + sd_decay * z[2, s], 0.0), 0.95)
        tmp[s] = (1.0 + g) * (1.0 - d)
    log_into(tmp, lq0, bits, n)  # log q0
    discount = inc.discount[i]
    sd_discount = inc.sd_discount[i]
    for s in range(n):
        k_row[s] = max(discount + sd_discount * z[3, s], 0.001)
    for s in range(n):
        tmp[s] = 1.0 + k_row[s]
    log_into(tmp, lk, bits, n)
    for s in range(n):
        # log1p(k) from the logarithm of the rounded 1 + k (Goldberg): a few ulps; 1 + k > 1
        lk[s] = lk[s] * (k_row[s] / (tmp[s] - 1.0))
    for s in range(n):
        tmp[s] = lq0[s] - lk[s]
    exp_into(tmp, q, bits, n)
    sd_life = inc.sd_life[i]
    for s in range(n):
        tmp[s] = sd_life * z[8, s]
    exp_into(tmp, life, bits, n)
    life0 = inc.life[i]
    m_top = 0.0
    for s in range(n):
        life[s] = life0 * life[s]
        m_top = max(m_top, math.floor(life[s]))
    # the whole years: Σ_{t ≤ m} E[M(t − τ)]·q^t, one year at a time for the whole block
    for s in range(n):
        acc[s] = 0.0
        p[s] = 1.0
    for t in range(1, int(m_top) + 1):
        e = em[t]
        tf = float(t)
        for s in range(n):
            p[s] *= q[s]
            acc[s] += e * p[s] if tf <= life[s] else 0.0
    # the partial final year at its own time, with E[M] of the certificate period it falls in
    pt_top = 0.0
    for s in range(n):
        m = math.floor(life[s])
        part_time[s] = m + (0.5 * (life[s] - m) if mid else life[s] - m)
        pt_top = max(pt_top, part_time[s])
    for s in range(n):
        a_row[s] = 0.0
        b_row[s] = 0.0
    for j in range(n_periods):
        if starts[j] > pt_top:
            break  # this period and the later ones begin after every sample's partial year
        lo = starts[j]
        hi = starts[j + 1]
        alpha = alphas[j]
        beta = betas[j]
        for s in range(n):
            inside = (part_time[s] >= lo) & (part_time[s] < hi)
            a_row[s] = alpha if inside else a_row[s]
            b_row[s] = beta if inside else b_row[s]
    # three exponentials: the part's discounted cash flow, its certificate survival, and the
    # sample's level (rate and model error, and the base rolled forward to today)
    for s in range(n):
        tmp[s] = (math.floor(life[s]) + 1.0) * lq0[s] - part_time[s] * lk[s]
    exp_into(tmp, e_part, bits, n)
    hazard = inc.hazard[i]
    for s in range(n):
        tmp[s] = -hazard * part_time[s]
    exp_into(tmp, e_surv, bits, n)
    roll = inc.roll[i]
    sd_rate = inc.sd_rate[i]
    sd_model = inc.sd_model[i]
    for s in range(n):
        tmp[s] = sd_rate * z[0, s] + roll * lq0[s] + sd_model * z[9, s]
    exp_into(tmp, e_level, bits, n)
    for s in range(n):
        # (1 + k)^τ times the whole years, plus the part (f = 0: no partial year)
        shift = math.sqrt(1.0 + k_row[s]) if mid else 1.0
        acc[s] = shift * acc[s]
    for s in range(n):
        f = life[s] - math.floor(life[s])
        acc[s] += f * e_part[s] * (a_row[s] + b_row[s] * e_surv[s])
    cash = inc.keep[i] * inc.base[i] * inc.rate[i]
    for s in range(n):
        out[s] = cash * acc[s] * e_level[s]
    tab_tax = inc.tab_tax[i]
    if tab_tax > 0.0:
        # the tax-amortisation benefit: 1/(1 − T/L·AF), AF = (1+k)^τ·(1 − (1+k)^−L)/k
        tab_life = inc.tab_life[i]
        for s in range(n):
            tmp[s] = -tab_life * lk[s]
        exp_into(tmp, e_part, bits, n)
        for s in range(n):
            shift = math.sqrt(1.0 + k_row[s]) if mid else 1.0
            e_part[s] = shift * (1.0 - e_part[s]) / k_row[s]
        for s in range(n):
            out[s] = out[s] / (1.0 - tab_tax / tab_life * e_part[s])


@jit_inner
def income_by_sample(z: np.ndarray, n: int, i: int, inc: IncomeInputs, out: np.ndarray) -> None:
    """:func:`income_block` sample by sample through :func:`income_point` (any life)."""
    for s in range(n):
        v = inc.keep[i] * income_point(
            inc.base[i],
            inc.rate[i] * math.exp(inc.sd_rate[i] * z[0, s]),
            max(inc.growth[i] + inc.sd_growth[i] * z[1, s], -0.95),
            min(max(inc.decay[i] + inc.sd_decay[i] * z[2, s], 0.0), 0.95),
            max(inc.discount[i] + inc.sd_discount[i] * z[3, s], 0.001),
            inc.life[i] * math.exp(inc.sd_life[i] * z[8, s]),
            inc.mid_year[i],
            inc.tab_tax[i],
            inc.tab_life[i],
            inc.roll[i],
            inc.hazard[i],
            inc.revoke_keep[i],
            inc.first_expiry[i],
            inc.validity[i],
            inc.renew_p[i],
            inc.lapse_keep[i],
        )
        out[s] = v * math.exp(inc.sd_model[i] * z[9, s])


@jit_inner
def cost_block(
    z: np.ndarray,
    n: int,
    i: int,
    cst: CostInputs,
    keep: float,
    w: np.ndarray,
    bits: np.ndarray,
    out: np.ndarray,
) -> None:
    """Write the cost method's value of samples ``0..n−1`` of product ``i`` into ``out``.

    :func:`~valuation.kernels.valuation.cost_value` with the cost index shifted by
    ``sd_index·z4``, the return on cost ``+ sd_return·z5`` (at least 0) and the quality factor
    ``+ sd_quality·z6`` (within [0, 1]), times ``keep`` and the model error ``exp(sd_model·z10)``;
    one item at a time for the whole block. ``w`` is ``(4, ≥ n)`` float64 scratch.
    """
    start = cst.offsets[i]
    stop = cst.offsets[i + 1]
    remaining = cst.remaining_life[i]
    total = 0.0
    for j in range(start, stop):
        total += cst.amount[j]
    if total <= 0.0 or remaining <= 0.0:
        for s in range(n):
            out[s] = 0.0
        return
    shift, value, x, y = w[0], w[1], w[2], w[3]
    sd_index = cst.sd_index[i]
    indexed = cst.indexed[i] > 0.0
    for s in range(n):
        shift[s] = sd_index * z[4, s]
    for s in range(n):
        value[s] = 0.0
    for j in range(start, stop):
        a = cst.amount[j]
        age = cst.age_years[j]
        share = remaining / (age + remaining)
        if not indexed:
            for s in range(n):
                value[s] += a * share
            continue
        rate = cst.index_rate[j]
        for s in range(n):
            x[s] = 1.0 + (rate + shift[s])
        log_into(x, y, bits, n)
        for s in range(n):
            # age·log1p(r) from the logarithm of the rounded 1 + r (Goldberg's correction)
            r = rate + shift[s]
            log1p = r if x[s] == 1.0 else y[s] * (r / (x[s] - 1.0))
            y[s] = age * log1p if x[s] > 0.0 else math.nan
        exp_into(y, x, bits, n)
        for s in range(n):
            value[s] += a * x[s] * share
    sd_model = cst.sd_model[i]
    for s in range(n):
        y[s] = sd_model * z[10, s]
    exp_into(y, x, bits, n)
    ret = cst.return_on_cost[i]
    quality = cst.quality_factor[i]
    sd_return = cst.sd_return[i]
    sd_quality = cst.sd_quality[i]
    for s in range(n):
        r = max(ret + sd_return * z[5, s], 0.0)
        k = min(max(quality + sd_quality * z[6, s], 0.0), 1.0)
        out[s] = value[s] * (1.0 + r) * k * keep * x[s]


@jit_parallel
def range_batch(
    has: np.ndarray,
    inc: IncomeInputs,
    cst: CostInputs,
    mkt: MarketInputs,
    point: BatchOutputs,
    entity: np.ndarray,
    seed: np.uint64,
    n_samples: int,
    quantiles_out: np.ndarray,
) -> None:
    """Sample the uncertain inputs and the models' errors; write P10/P50/P90 of each method.

    ``quantiles_out`` has shape ``(n, 4, 3)``: rows income, cost, market, concluded; columns
    P10, P50, P90. With shape ``(n, 1, 3)`` only the conclusion's row is written (the same
    bits): the samples are the same, but three selections of their order statistics a product
    are saved where the methods' ranges are not reported (``dpv revalue``'s rows). Sample
    ``s`` of product ``i`` draws from the Philox stream keyed by ``(seed, entity[i], s)``, so
    results do not depend on threads or on the batch.

    Each uncertain input is perturbed around its point value so that the point is the median:
    the royalty/attributable rate (``z0``), the economic life (``z8``) and the market level
    (``z7``) log-normally; growth (``z1``), decay (``z2``), discount rate (``z3``), cost index
    (``z4``) and return on cost (``z5``) normally (clipped to their domain), the quality factor
    (``z6``) normally within [0, 1]. Each method's value is then multiplied by
    ``exp(sd_model·z)`` (``z9``, ``z10``, ``z11``), its measured error beyond these inputs (for
    the income method this carries the revenue's own innovation between the base period and
    today, and the mode). Weights stay those of the point valuation.
    """
    if quantiles_out.shape[1] != 4 and quantiles_out.shape[1] != 1:
        raise ValueError("quantiles_out must have 4 rows (the methods', the conclusion's) or 1")
    point_values = point.values
    point_sigmas = point.sigmas
    point_weights = point.weights
    sd_model_market = mkt.sd_model
    for i in prange(has.shape[0]):
        samples = np.empty((4, n_samples))
        u = np.empty((4, SAMPLE_BLOCK))
        z = np.empty((_N_NORMALS, SAMPLE_BLOCK))
        tail_x = np.empty(_N_NORMALS * SAMPLE_BLOCK)
        tail_i = np.empty((2, _N_NORMALS * SAMPLE_BLOCK), dtype=np.int64)
        bits = np.empty(SAMPLE_BLOCK, dtype=np.int64)
        w = np.empty((INCOME_ROWS, SAMPLE_BLOCK))
        key = np.uint64(entity[i])
        # the income method: by blocks through the certificate's schedule, or sample by sample
        income = 0  # 0 none (zero), 1 by blocks, 2 sample by sample
        n_periods = 0
        em = np.empty(0)
        starts = np.empty(0)
        alphas = np.empty(0)
        betas = np.empty(0)
        if has[i, 0] and inc.base[i] * inc.rate[i] > 0.0 and inc.life[i] > 0.0:
            income = 2
            top = inc.life[i] * math.exp(inc.sd_life[i] * _Z_BOUND)
            validity = inc.validity[i]
            if top < _MAX_YEARS:
                t_max = int(top) + 1
                most = 3 + (int((t_max + 1.0) / validity) if validity > 0.0 else 0)
                if most < _MAX_YEARS:
                    income = 1
                    em = np.empty(t_max + 1)
                    starts = np.empty(most + 1)
                    alphas = np.empty(most)
                    betas = np.empty(most)
                    n_periods = certificate_schedule(
                        inc.hazard[i],
                        inc.revoke_keep[i],
                        inc.first_expiry[i],
                        validity,
                        inc.renew_p[i],
                        inc.lapse_keep[i],
                        0.5 if inc.mid_year[i] > 0.0 else 0.0,
                        t_max,
                        em,
                        starts,
                        alphas,
                        betas,
                    )
        w0 = point_weights[i, 0]
        w1 = point_weights[i, 1]
        w2 = point_weights[i, 2]
        # the market method's own sd without its model error (which is sampled apart)
        s_mkt = point_sigmas[i, 2]
        s_mkt = math.sqrt(max(s_mkt * s_mkt - sd_model_market[i] * sd_model_market[i], 0.0))
        v_mkt = point_values[i, 2]
        for s0 in range(0, n_samples, SAMPLE_BLOCK):
            n = min(SAMPLE_BLOCK, n_samples - s0)
            # z[4·b + w, j]: word w of Philox block b of sample s0 + j, through the inverse normal
            step_normals(seed, key, np.uint64(s0), n, _N_NORMALS, u, z, tail_x, tail_i)
            v_inc = samples[0, s0 : s0 + n]
            v_cost = samples[1, s0 : s0 + n]
            v_market = samples[2, s0 : s0 + n]
            if income == 1:
                income_block(z, n, i, inc, em, starts, alphas, betas, n_periods, w, bits, v_inc)
            elif income == 2:
                income_by_sample(z, n, i, inc, v_inc)
            else:
                v_inc[:] = 0.0
            if has[i, 1]:
                cost_block(z, n, i, cst, inc.keep[i], w, bits, v_cost)
            else:
                v_cost[:] = 0.0
            if has[i, 2]:
                tmp = w[0]
                sd_model = sd_model_market[i]
                for s in range(n):
                    tmp[s] = s_mkt * z[7, s] + sd_model * z[11, s]
                exp_into(tmp, v_market, bits, n)
                for s in range(n):
                    v_market[s] *= v_mkt
            else:
                v_market[:] = 0.0
            for s in range(n):
                samples[3, s0 + s] = w0 * v_inc[s] + w1 * v_cost[s] + w2 * v_market[s]
        if quantiles_out.shape[1] == 1:
            _quantiles_into(samples[3], quantiles_out[i, 0])  # the conclusion's alone
            continue
        for r in range(4):
            if r == 3 or has[i, r]:
                _quantiles_into(samples[r], quantiles_out[i, r])
            else:
                quantiles_out[i, r, :] = 0.0  # a method without a value: every sample is 0


def warmup() -> None:
    """Compile :func:`range_batch` for the production signature."""
    from valuation.kernels.valuation import allocate_outputs, tiny_batch, value_batch

    has, inc, cst, mkt = tiny_batch()
    out = allocate_outputs(1)
    value_batch(has, inc, cst, mkt, out)
    q = np.zeros((1, 4, 3))
    range_batch(has, inc, cst, mkt, out, np.zeros(1, dtype=np.uint64), np.uint64(1), 8, q)


__all__ = [
    "QUANTILES",
    "SAMPLE_BLOCK",
    "certificate_schedule",
    "cost_block",
    "income_block",
    "income_by_sample",
    "range_batch",
    "warmup",
]
