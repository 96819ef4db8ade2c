"""Domain errors of the valuation package.

Every error that a user can cause is a :class:`DpvInputError`: the CLI turns it into exit code
2 and a message that names the file, the field and the problem. Message texts that recur are
constants here.
"""

from __future__ import annotations

MSG_MALFORMED_JSON = "malformed JSON: {detail}"
MSG_FILE_NOT_FOUND = "file not found"
MSG_NOT_A_FILE = "not a regular file"
MSG_NO_INPUTS = "no method has the inputs it needs"


class DpvError(Exception):
    """Base class of every error raised on purpose by dpv."""


class DpvInputError(DpvError, ValueError):
    """Bad input: a file, a field or a value a user supplied is wrong.

    Parameters
    ----------
    problem
        What is wrong, in words a user understands.
    source
        The file (or ``"<stdin>"``) the input came from, if any.
    field
        The dotted path of the offending field (``certificate.expires_on``), if any.
    """

    def __init__(self, problem: str, *, source: str | None = None, field: str | None = None):
        self.problem = problem
        self.source = source
        self.field = field
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The full message: ``source: field: problem`` with the parts that are known."""
        parts = [p for p in (self.source, self.field) if p]
        return ": ".join([*parts, self.problem])

    def with_source(self, source: str) -> DpvInputError:
        """Return the same error attributed to ``source`` (a file path)."""
        return DpvInputError(self.problem, source=source, field=self.field)


class CalibrationError(DpvInputError):
    """A CalibrationSet is missing, tampered with or incompatible."""


__all__ = [
    "CalibrationError",
    "DpvError",
    "DpvInputError",
    "MSG_FILE_NOT_FOUND",
    "MSG_MALFORMED_JSON",
    "MSG_NOT_A_FILE",
    "MSG_NO_INPUTS",
]
