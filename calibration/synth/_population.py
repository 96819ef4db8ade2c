"""Who the products are and when they were made: segment, holder, registration and launch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calibration.synth._draw import _add_months, _choice, _day, _year_of
from calibration.synth._params import Params
from valuation.dates import DAYS_PER_YEAR
from valuation.schema.product import CATEGORIES


@dataclass(frozen=True)
class Population:
    """The products' segments and their holders.

    Attributes
    ----------
    sector, category, segment
        Per product: indices into ``SECTORS``, ``CATEGORIES`` and the sector-major segment list.
    n_holders
        Holders in the block.
    holder_of
        Per product: index of its holder.
    holder_region, holder_kind, holder_high_tech
        Per holder: index into ``REGIONS``, into ``HOLDER_KINDS``, and the high-tech flag.
    region
        Per product: its holder's region.
    """

    sector: NDArray[np.int64]
    category: NDArray[np.int64]
    segment: NDArray[np.int64]
    n_holders: int
    holder_of: NDArray[np.int64]
    holder_region: NDArray[np.int64]
    holder_kind: NDArray[np.int64]
    holder_high_tech: NDArray[np.bool_]
    region: NDArray[np.int64]


@dataclass(frozen=True)
class Calendar:
    """The products' key dates (day numbers).

    Attributes
    ----------
    registered
        Registration day (linear rising density over the registration window).
    launched, launch_year
        Launch day (before registration, not before the first revenue year) and its year.
    announced_end
        Last day of the announcement period.
    expires0
        Expiry of the first certificate term (before any renewal).
    """

    registered: NDArray[np.int64]
    launched: NDArray[np.int64]
    launch_year: NDArray[np.int64]
    announced_end: NDArray[np.int64]
    expires0: NDArray[np.int64]


def draw_population(rng: np.random.Generator, params: Params, n: int) -> Population:
    """Draw the products' sectors, categories and holders.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    n
        Products in the block.

    Returns
    -------
    Population
        Segments, holders and regions.
    """
    mix = params.truth["mix"]
    sector = _choice(rng, params.sector_p, n)
    category = _choice(rng, params.category_p, n)
    segment = sector * len(CATEGORIES) + category
    n_holders = max(1, math.ceil(n / float(mix["products_per_holder"])))
    holder_of = rng.integers(0, n_holders, n)
    holder_region = _choice(rng, params.region_p, n_holders)
    holder_kind = _choice(rng, params.holder_kind_p, n_holders)
    holder_high_tech = rng.random(n_holders) < mix["high_tech_share"]
    return Population(
        sector=sector,
        category=category,
        segment=segment,
        n_holders=n_holders,
        holder_of=holder_of,
        holder_region=holder_region,
        holder_kind=holder_kind,
        holder_high_tech=holder_high_tech,
        region=holder_region[holder_of],
    )


def draw_calendar(rng: np.random.Generator, params: Params, n: int) -> Calendar:
    """Draw registration and launch days and derive the certificate's first term.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    n
        Products in the block.

    Returns
    -------
    Calendar
        Registration, launch, end of announcement and first expiry.
    """
    cal = params.truth["calendar"]
    span = params.as_of - params.registration_start
    a = (float(cal["registration_density_ratio"]) - 1.0) / 2.0
    u = rng.random(n)
    x = u if a == 0 else (-1.0 + np.sqrt(1.0 + 4.0 * a * u * (1.0 + a))) / (2.0 * a)
    registered = params.registration_start + np.floor(x * span).astype(np.int64)
    lead = np.floor(rng.random(n) * cal["launch_lead_years_max"] * DAYS_PER_YEAR).astype(np.int64)
    first_year_day = _day(f"{int(params.revenue_years[0])}-01-01")
    launched = np.maximum(registered - lead, first_year_day)
    return Calendar(
        registered=registered,
        launched=launched,
        launch_year=_year_of(launched),
        announced_end=registered + int(cal["announcement_days"]),
        expires0=_add_months(registered, 12 * int(cal["validity_years"])),
    )
