"""Certificate life: objection, revocation, renewal and lapse; the events table; ledger hashes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _fixed_width, _labels, _take
from calibration.synth._draw import _add_months, _exp_days
from calibration.synth._params import EVENT_KINDS, STATUSES, Params


@dataclass(frozen=True)
class CertificateHistory:
    """What happened to each product's certificate up to the as-of date.

    Attributes
    ----------
    t_objection, t_revocation
        Per product: the (fractional) day of a potential objection / revocation.
    objected, revoked, renewed, lapsed
        Per product: whether the event happened.
    expires
        Per product: the current expiry day (after any renewal).
    end_day
        Per product: the last day of the certificate (lapse or revocation), else the as-of day.
    status
        Per product: index into ``STATUSES`` at the as-of date.
    """

    t_objection: NDArray[np.float64]
    t_revocation: NDArray[np.float64]
    objected: NDArray[np.bool_]
    revoked: NDArray[np.bool_]
    renewed: NDArray[np.bool_]
    lapsed: NDArray[np.bool_]
    expires: NDArray[np.int64]
    end_day: NDArray[np.float64]
    status: NDArray[np.int64]


def draw_certificate(
    rng: np.random.Generator,
    params: Params,
    announced_end: NDArray[np.int64],
    expires0: NDArray[np.int64],
) -> CertificateHistory:
    """Draw certificate events from competing hazards after the announcement period.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    announced_end
        Per product: last day of the announcement period (hazards start then).
    expires0
        Per product: expiry of the first term.

    Returns
    -------
    CertificateHistory
        Event flags and days, current expiry, end of life and status.
    """
    t = params.truth
    as_of = params.as_of
    n = len(announced_end)
    hz = t["hazards"]
    t_objection = announced_end + _exp_days(rng, hz["objection"], n)
    t_revocation = announced_end + _exp_days(rng, hz["revocation"], n)
    objection_pending = rng.exponential(hz["objection_pending_days_mean"], n)
    renew_draw = rng.random(n) < hz["renewal_probability"]
    expiry_due = expires0 <= as_of
    revoked_before_expiry = t_revocation < expires0
    renewed = expiry_due & ~revoked_before_expiry & renew_draw
    lapsed = expiry_due & ~revoked_before_expiry & ~renew_draw
    alive_end = np.where(lapsed, expires0, as_of).astype(np.float64)  # end of revocation risk
    revoked = t_revocation <= alive_end
    revoked_day = np.floor(np.where(revoked, t_revocation, np.inf))
    objection_end = np.minimum(alive_end, np.where(revoked, t_revocation, np.inf))
    objected = t_objection <= objection_end
    validity_months = 12 * int(t["calendar"]["validity_years"])
    expires = np.where(renewed, _add_months(expires0, validity_months), expires0)
    end_day = np.minimum(alive_end, revoked_day)  # last day of the certificate (or as_of)
    status = np.full(n, STATUSES.index("valid"))
    objection_open = objected & (as_of < t_objection + objection_pending)
    status[objection_open] = STATUSES.index("objected")
    status[lapsed] = STATUSES.index("expired")
    status[revoked] = STATUSES.index("revoked")
    status[announced_end > as_of] = STATUSES.index("announced")
    return CertificateHistory(
        t_objection=t_objection,
        t_revocation=t_revocation,
        objected=objected,
        revoked=revoked,
        renewed=renewed,
        lapsed=lapsed,
        expires=expires,
        end_day=end_day,
        status=status,
    )


def ledger_hashes(rng: np.random.Generator, n: int) -> pa.Array:
    """Draw ``n`` random 64-hex-digit ledger hashes of the certificates."""
    return _fixed_width(rng.bytes(32 * n).hex().encode("ascii"), 64, n)


def events_table(
    cert: CertificateHistory,
    expires0: NDArray[np.int64],
    delisted: NDArray[np.bool_],
    t_delist: NDArray[np.float64],
    product_id: pa.Array,
) -> dict[str, Any]:
    """Return the ``events`` table: ``product_id, date, kind``, sorted by product, day, kind.

    Parameters
    ----------
    cert
        The certificate history.
    expires0
        Per product: expiry of the first term (the day of a renewal or lapse).
    delisted, t_delist
        Per product: whether and when its exchange listing ended.
    product_id
        Per product: its identifier.

    Returns
    -------
    dict
        The table's columns.
    """
    ev_parts = [
        (cert.objected, cert.t_objection, "objection"),
        (cert.revoked, cert.t_revocation, "revocation"),
        (cert.renewed, expires0.astype(np.float64), "renewal"),
        (cert.lapsed, expires0.astype(np.float64), "lapse"),
        (delisted, t_delist, "delisting"),
    ]
    ev_prod = np.concatenate([np.nonzero(m)[0] for m, _, _ in ev_parts])
    ev_day = np.concatenate([np.floor(d[m]).astype(np.int64) for m, d, _ in ev_parts])
    ev_kind = np.concatenate(
        [np.full(int(m.sum()), EVENT_KINDS.index(k)) for m, _, k in ev_parts]
    ).astype(np.int64)
    srt = np.lexsort((ev_kind, ev_day, ev_prod))
    ev_prod, ev_day, ev_kind = ev_prod[srt], ev_day[srt], ev_kind[srt]
    return {
        "product_id": _take(product_id, ev_prod),
        "date": ev_day,
        "kind": _labels(ev_kind, EVENT_KINDS),
    }
