"""``python -m valuation`` runs the ``dpv`` command line."""

from valuation.cli import entry

entry()
