"""A synthetic data-product market with known truth (issue 4).

:func:`generate_market` draws products, revenue histories, licensing deals and exchange trades,
certificate events, exchange listings and pledged loans from explicit ground-truth parameters
(:func:`default_truth`) and writes them, with ``truth.json``, to a folder.
"""

from calibration.synth._truth import AS_OF, default_truth, segment_keys
from calibration.synth._write import FORMATS, TABLES, SynthResult, generate_market

__all__ = [
    "AS_OF",
    "FORMATS",
    "TABLES",
    "SynthResult",
    "default_truth",
    "generate_market",
    "segment_keys",
]
