"""Monte Carlo loan-to-value stress of loans secured on data products (SPEC §6).

``model`` turns a request into arrays, ``scenarios`` holds the named stress scenarios as data,
``api`` runs the numba kernels of :mod:`valuation.kernels.stress` and summarises the paths,
``numpy_twin`` is the plain NumPy implementation the tests and benchmarks compare against.
"""

from valuation.risk.api import stress
from valuation.risk.model import StressModel, build_model
from valuation.risk.scenarios import NAMED_SCENARIOS

__all__ = ["NAMED_SCENARIOS", "StressModel", "build_model", "stress"]
