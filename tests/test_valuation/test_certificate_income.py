"""The certificate's events in the income method: closed form against year by year, the
event-free annuity, monotonicity, and a Monte Carlo simulation of the same process."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.test_valuation.naive import (
    certificate_income_naive,
    expiries_naive,
    payments_naive,
)
from valuation.kernels.certificate import certificate_income, geometric_sum
from valuation.kernels.valuation import income_value

CASH = 1000.0
PROPERTY = settings(max_examples=300, deadline=None)


def random_parameters(rng: np.random.Generator, on_grid: bool) -> tuple[float, ...]:
    """One random argument tuple of :func:`certificate_income`.

    ``on_grid``: lives on a 1/8-year grid, expiries on a 1/4-year grid and validities of whole
    or half years, all exact in binary, so that payment times fall exactly on expiries (and
    lives end exactly on one) as often as not. Otherwise continuous values. Both draw the edge
    cases: an expiry now, none ahead, no hazard, never and always renewed, total and no loss.
    """
    growth = rng.uniform(-0.3, 0.5)
    decay = 0.0 if rng.random() < 0.3 else rng.uniform(0.0, 0.4)
    discount = rng.uniform(0.01, 0.35)
    mid_year = float(rng.random() < 0.5)
    if on_grid:
        life = rng.integers(1, 97) / 8.0
        first_expiry = rng.integers(0, 25) / 4.0
        validity = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0, 4.0]))
    else:
        life = rng.uniform(0.01, 12.0)
        first_expiry = rng.uniform(0.0, 6.0)
        validity = rng.uniform(0.3, 5.0)
    u = rng.random()
    if u < 0.1:
        first_expiry = 0.0
    elif u < 0.2:
        first_expiry = math.inf

    def share() -> float:
        v = rng.random()
        return 0.0 if v < 0.15 else 1.0 if v < 0.3 else rng.random()

    hazard = 0.0 if rng.random() < 0.15 else rng.uniform(0.0, 0.3)
    return (
        CASH,
        growth,
        decay,
        discount,
        life,
        mid_year,
        hazard,
        share(),
        first_expiry,
        validity,
        share(),
        share(),
    )


def lands_on_expiry(args: tuple[float, ...]) -> bool:
    """Whether a payment falls exactly on an expiry, or the life ends exactly on one."""
    _, growth, decay, _, life, mid_year, _, _, first_expiry, validity, _, _ = args
    expiries = set(expiries_naive(first_expiry, validity, life + 1.0))
    times = {s for s, _ in payments_naive(CASH, growth, decay, life, mid_year)}
    return bool(expiries & (times | {life}))


@pytest.mark.parametrize("on_grid", [True, False])
def test_closed_form_equals_year_by_year_sum(on_grid: bool) -> None:
    rng = np.random.default_rng(2026 + on_grid)
    on_expiry = fractional = expiry_now = 0
    for _ in range(2500):
        args = random_parameters(rng, on_grid)
        got = certificate_income(*args)
        want = certificate_income_naive(*args)
        assert math.isclose(got, want, rel_tol=1e-12), (args, got, want)
        on_expiry += lands_on_expiry(args)
        fractional += args[4] != math.floor(args[4])
        expiry_now += args[8] == 0.0
    assert fractional > 1000
    assert expiry_now > 150
    if on_grid:
        assert on_expiry > 500


@pytest.mark.parametrize(
    ("life", "mid_year", "first_expiry", "validity"),
    [
        (4.0, 0.0, 1.0, 3.0),  # end-year payments at 1 and 4 on the expiries; life ends on one
        (3.5, 1.0, 0.5, 3.0),  # the first mid-year payment (t = 1) on the first expiry
        (2.75, 0.0, 0.0, 2.75),  # expiry now and again when the life ends, at the partial year
        (6.5, 1.0, 0.25, 3.0),  # the partial year's middle (6.25) on the third expiry
        (0.5, 1.0, 0.25, 3.0),  # a partial year only, its middle on the expiry
    ],
)
def test_payments_on_an_expiry_take_the_state_after_it(
    life: float, mid_year: float, first_expiry: float, validity: float
) -> None:
    args = (CASH, 0.1, 0.05, 0.12, life, mid_year, 0.05, 0.2, first_expiry, validity, 0.6, 0.3)
    assert lands_on_expiry(args)
    got = certificate_income(*args)
    assert got == pytest.approx(certificate_income_naive(*args), rel=1e-12)
    # the expiries a hair later leave those payments in the period before, the certificate
    # alive: worth discernibly more (a lapse loses income), not just by the hair's discounting
    later = list(args)
    later[8] = first_expiry + 1e-9
    assert certificate_income(*later) > got * (1.0 + 1e-6)


@pytest.mark.parametrize("mid_year", [0.0, 1.0])
@pytest.mark.parametrize("life", [0.3, 1.0, 2.5, 7.0, 9.99, 12.0])
@pytest.mark.parametrize(
    "events",
    [
        (0.0, 0.0, math.inf, 3.0, 0.3, 0.1),  # no hazard, no expiry ahead
        (0.2, 1.0, 0.5, 3.0, 0.0, 1.0),  # events that cost nothing
        (0.0, 0.0, 1.0, 3.0, 1.0, 0.0),  # no hazard, always renewed
        (0.0, 0.0, 0.0, 1.0, 1.0, 0.0),  # expiry now, always renewed
    ],
)
def test_without_effective_events_it_is_the_plain_annuity(
    events: tuple[float, ...], life: float, mid_year: float
) -> None:
    for growth, decay, discount in [(0.05, 0.1, 0.15), (0.12, 0.0, 0.12), (-0.2, 0.3, 0.3)]:
        got = certificate_income(CASH, growth, decay, discount, life, mid_year, *events)
        plain, _ = income_value(CASH, 1.0, growth, decay, discount, life, mid_year, 0.0, 1.0)
        assert got == pytest.approx(plain, rel=1e-12)


def test_no_cash_or_no_life_is_worth_nothing() -> None:
    events = (0.1, 0.0, 1.0, 3.0, 0.7, 0.5)
    assert certificate_income(0.0, 0.1, 0.0, 0.1, 5.0, 1.0, *events) == 0.0
    assert certificate_income(-5.0, 0.1, 0.0, 0.1, 5.0, 1.0, *events) == 0.0
    assert certificate_income(CASH, 0.1, 0.0, 0.1, 0.0, 1.0, *events) == 0.0
    assert math.isinf(certificate_income(CASH, 0.1, 0.0, 0.1, math.inf, 1.0, *events))


@pytest.mark.parametrize("log_r", [0.0, 1e-17, -1e-12, 1e-9, -0.3, 0.2])
def test_geometric_sum(log_r: float) -> None:
    r = math.exp(log_r)
    for first, last in [(1.0, 1.0), (1.0, 9.0), (3.0, 7.0), (5.0, 4.0)]:
        want = sum(r**t for t in range(int(first), int(last) + 1))
        assert geometric_sum(log_r, first, last) == pytest.approx(want, rel=1e-13, abs=0.0)


# ---- monotonicity ---------------------------------------------------------------------------

share = st.floats(0.0, 1.0)
events = st.tuples(
    st.floats(0.0, 0.3),  # hazard
    share,  # revoke_keep
    st.one_of(st.just(0.0), st.floats(0.0, 6.0), st.just(math.inf)),  # first_expiry
    st.sampled_from([3.0, 1.0, 2.0, 0.5, 5.0]),  # validity
    share,  # renew_p
    share,  # lapse_keep
)
flows = st.tuples(
    st.floats(-0.3, 0.5),  # growth
    st.floats(0.0, 0.4),  # decay
    st.floats(0.01, 0.35),  # discount
    st.floats(0.05, 12.0),  # life
    st.sampled_from([0.0, 1.0]),  # mid_year
)


def value(flow: tuple[float, ...], event: tuple[float, ...], **change: float) -> float:
    names = ("growth", "decay", "discount", "life", "mid_year")
    names += ("hazard", "revoke_keep", "first_expiry", "validity", "renew_p", "lapse_keep")
    kw = dict(zip(names, flow + event, strict=True)) | change
    return certificate_income(CASH, *(kw[k] for k in names))


def payment_after(flow: tuple[float, ...], when: float) -> bool:
    """Whether a whole year's cash flow is paid at or after ``when``."""
    _, _, _, life, mid_year = flow
    return math.floor(life) >= 1 and math.floor(life) - 0.5 * mid_year >= when


def no_higher(a: float, b: float) -> bool:
    """``a <= b`` but for rounding (equal in exact arithmetic where a parameter has no effect)."""
    return a <= b * (1.0 + 1e-12) + 1e-12 * CASH


# The strict inequalities ask for changes well above rounding: a step of at least a few
# hundredths in the parameter, and an event that reaches a whole year's cash flow.


@PROPERTY
@given(flows, events, share, share)
def test_value_rises_with_the_renewal_probability(flow, event, p1, p2) -> None:
    # Pathwise: a renewal leads to states (alive 1, revoked, lapsed) no worse than the lapse
    # itself when a revocation loses no more than a lapse; see the next test otherwise.
    p1, p2 = sorted((p1, p2))
    _, revoke_keep, first_expiry, _, _, lapse_keep = event
    assume(revoke_keep >= lapse_keep)
    low, high = value(flow, event, renew_p=p1), value(flow, event, renew_p=p2)
    assert no_higher(low, high)
    if p2 - p1 > 0.05 and lapse_keep < 0.95 and payment_after(flow, first_expiry):
        assert low < high


def test_renewal_can_lower_the_value_when_a_revocation_costs_more_than_a_lapse() -> None:
    # a renewed certificate is exposed to a revocation that loses everything; lapsed, it keeps
    # 90% for good: at a high hazard the expected value falls with the renewal probability
    flow, event = (0.05, 0.0, 0.12, 10.0, 1.0), (0.3, 0.0, 1.0, 3.0, 0.5, 0.9)
    assert value(flow, event, renew_p=1.0) < value(flow, event, renew_p=0.0)


@PROPERTY
@given(flows, events, st.integers(1, 11), st.integers(1, 5))
def test_value_rises_with_whole_years_of_life(flow, event, years, more) -> None:
    # a whole-year life is a set of whole years' cash flows, each with E[M] >= 0
    low = value(flow, event, life=float(years))
    high = value(flow, event, life=float(years + more))
    assert no_higher(low, high)
    _, revoke_keep, _, _, _, lapse_keep = event
    if min(revoke_keep, lapse_keep) > 0.05:
        assert low < high


@PROPERTY
@given(flows, events, st.floats(0.01, 12.0), st.floats(0.01, 12.0))
def test_value_rises_with_life_when_no_lapse_can_cut_it(flow, event, life1, life2) -> None:
    # With no lapse loss E[M(s)] is continuous and positive, so the partial final year moves
    # smoothly onto the next whole year and the value rises strictly with any longer life.
    # (With a lapse loss it need not: the partial final year is paid all at one time, which a
    # longer life can move past an expiry, and that payment then drops by the lapse loss.)
    life1, life2 = sorted((life1, life2))
    event = (*event[:5], 1.0)
    low, high = value(flow, event, life=life1), value(flow, event, life=life2)
    assert no_higher(low, high)
    if life2 - life1 > 0.01:
        assert low < high


@PROPERTY
@given(flows, events, st.floats(0.0, 0.3), st.floats(0.0, 0.3))
def test_value_falls_with_the_hazard(flow, event, h1, h2) -> None:
    # Pathwise: a faster revocation clock revokes earlier, and the revoked state is the worst
    # when a revocation loses at least as much as a lapse.
    h1, h2 = sorted((h1, h2))
    _, revoke_keep, first_expiry, _, renew_p, lapse_keep = event
    assume(revoke_keep <= lapse_keep)
    low_hazard, high_hazard = value(flow, event, hazard=h1), value(flow, event, hazard=h2)
    assert no_higher(high_hazard, low_hazard)
    alive = first_expiry > 0.05 or renew_p > 0.05  # the certificate lives for a while
    if h2 - h1 > 0.01 and lapse_keep - revoke_keep > 0.05 and alive:
        assert high_hazard < low_hazard


def test_a_revocation_can_spare_a_costlier_lapse() -> None:
    # revocation loses nothing and ends the certificate's events: a faster one spares the lapse
    flow, event = (0.05, 0.0, 0.12, 8.0, 1.0), (0.0, 1.0, 1.0, 3.0, 0.0, 0.0)
    assert value(flow, event, hazard=0.3) > value(flow, event, hazard=0.0)


@PROPERTY
@given(flows, events, share, share)
def test_value_falls_with_the_lapse_loss(flow, event, keep1, keep2) -> None:
    keep1, keep2 = sorted((keep1, keep2))  # lapse_keep: keep1 loses more
    _, _, first_expiry, _, renew_p, _ = event
    lossy, kept = value(flow, event, lapse_keep=keep1), value(flow, event, lapse_keep=keep2)
    assert no_higher(lossy, kept)
    if keep2 - keep1 > 0.01 and renew_p < 0.95 and payment_after(flow, first_expiry):
        assert lossy < kept


@PROPERTY
@given(flows, events, share, share)
def test_value_falls_with_the_revocation_loss(flow, event, keep1, keep2) -> None:
    keep1, keep2 = sorted((keep1, keep2))  # revoke_keep: keep1 loses more
    hazard, _, first_expiry, _, renew_p, _ = event
    lossy, kept = value(flow, event, revoke_keep=keep1), value(flow, event, revoke_keep=keep2)
    assert no_higher(lossy, kept)
    alive = first_expiry > 0.05 or renew_p > 0.05
    if keep2 - keep1 > 0.01 and hazard > 0.01 and alive:
        assert lossy < kept


# ---- Monte Carlo ----------------------------------------------------------------------------


def simulate(args: tuple[float, ...], n_paths: int, seed: int) -> np.ndarray:
    """Present value of each of ``n_paths`` simulated paths of the certificate's events.

    Each path draws a revocation time ``T ~ Exp(h)`` and a renewal decision (probability
    ``renew_p``) at every expiry; the first refusal is the lapse. The certificate is revoked if
    ``T`` comes before the lapse. The cash flow paid at ``s`` (``t - τ``, or the partial final
    year's time) is multiplied by ``revoke_keep`` if the revocation happened by ``s``, by
    ``lapse_keep`` if the lapse did, else by 1, and discounted at ``(1 + k)^s``.
    """
    cash, g, d, k, life, mid_year, h, revoke_keep, first_expiry, validity, p, lapse_keep = args
    tau = 0.5 if mid_year > 0 else 0.0
    m = math.floor(life)
    f = life - m
    times = [t - tau for t in range(1, m + 1)]
    amounts = [cash * ((1 + g) * (1 - d)) ** t for t in range(1, m + 1)]
    if f > 0:
        times.append(m + (f / 2 if mid_year > 0 else f))
        amounts.append(f * cash * ((1 + g) * (1 - d)) ** (m + 1))
    s = np.array(times)
    discounted = np.array(amounts) / (1 + k) ** s

    rng = np.random.default_rng(seed)
    revocation = rng.exponential(1 / h, n_paths) if h > 0 else np.full(n_paths, np.inf)
    expiries = []
    e = first_expiry
    while e <= s.max():
        expiries.append(e)
        e += validity
    refused = rng.random((n_paths, len(expiries))) >= p
    lapse = np.full(n_paths, np.inf)
    if expiries:
        first_refusal = np.argmax(refused, axis=1)
        lapse = np.where(refused.any(axis=1), np.array(expiries)[first_refusal], np.inf)
    revoked = revocation < lapse
    event_time = np.where(revoked, revocation, lapse)[:, None]
    keep_after = np.where(revoked, revoke_keep, lapse_keep)[:, None]
    multiplier = np.where(event_time <= s[None, :], keep_after, 1.0)
    return multiplier @ discounted


MONTE_CARLO_CASES = [
    # the defaults' process: hazard 0.015, total revocation loss, renewal 0.7, lapse 0.5
    (CASH, 0.05, 0.1, 0.15, 7.5, 1.0, 0.015, 0.0, 1.2, 3.0, 0.7, 0.5),
    # high hazard, partial revocation loss, end-year, a fractional life
    (CASH, 0.2, 0.0, 0.1, 9.3, 0.0, 0.3, 0.4, 2.7, 3.0, 0.5, 0.2),
    # expiry now, yearly validity, rarely renewed
    (CASH, -0.1, 0.05, 0.25, 5.8, 1.0, 0.1, 0.0, 0.0, 1.0, 0.3, 0.6),
    # a revocation that loses nothing sparing a lapse that loses everything; q above 1
    (CASH, 0.3, 0.0, 0.08, 11.0, 0.0, 0.2, 1.0, 0.5, 2.0, 0.6, 0.0),
    # mid-year payments falling exactly on the expiries (1.5, 3.5, 5.5)
    (CASH, 0.1, 0.05, 0.12, 6.0, 1.0, 0.05, 0.3, 1.5, 2.0, 0.8, 0.25),
]


@pytest.mark.parametrize(("seed", "args"), list(enumerate(MONTE_CARLO_CASES)))
def test_equals_a_monte_carlo_of_the_events(seed: int, args: tuple[float, ...]) -> None:
    pv = simulate(args, 200_000, seed=seed)
    mean, se = pv.mean(), pv.std(ddof=1) / math.sqrt(pv.shape[0])
    assert se > 1e-4 * mean  # the events do move the value
    assert abs(certificate_income(*args) - mean) < 4 * se
