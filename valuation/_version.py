"""The engine version, written into every result's audit block."""

__version__ = "0.1.0"
