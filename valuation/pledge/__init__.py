"""Pledge assessment for credit officers: eligibility, valuation, stress, decision, memo.

``assess_pledge`` turns a :class:`~valuation.schema.pledge.PledgeRequest` into an
:class:`~valuation.schema.pledge.Assessment`; ``render_memo`` writes the credit memo;
``reproduce`` re-runs an assessment from its audit block.
"""

from valuation.pledge.api import assess_pledge, load_registry, stress_request
from valuation.pledge.memo import render_memo
from valuation.pledge.reproduce import reproduce

__all__ = ["assess_pledge", "load_registry", "render_memo", "reproduce", "stress_request"]
