"""The ledger of a revaluation in progress: which chunks are done, and of what.

``OUT/.staging/ledger.json`` records the input (its SHA-256, size and line count), the
arguments that decide the rows (valuation date, seed, calibration id, profile, engine version,
chunk size) and, per finished chunk, its line range, row counts and the SHA-256 of its staged
files. It is rewritten atomically (a temporary file, fsync, rename) after each chunk, so after
a crash it describes exactly the chunks whose files were renamed into place before it.

``--resume`` compares the recorded input and arguments with the new run's and refuses the first
that differs, naming it; a recorded chunk whose file is missing or changed is redone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from valuation.exceptions import DpvInputError
from valuation.hashing import sha256_file

LEDGER = "ledger.json"
LEDGER_FORMAT = 1

MSG_LEDGER_BAD = "not a ledger this dpv can resume from: {detail}"
MSG_INPUT_CHANGED = (
    "the input changed since the interrupted run (SHA-256 {recorded:.16}… recorded, "
    "{found:.16}… now): start again with --force"
)
MSG_ARGUMENT_CHANGED = (
    "differs from the interrupted run ({recorded!r} recorded, {found!r} now): "
    "resume with the same value or start again with --force"
)

# Ledger key -> the option a user sets it with, for the message of a mismatch.
OPTION_NAMES = {
    "as_of": "--as-of",
    "seed": "--seed",
    "calibration_id": "--calibration",
    "profile": "--profile",
    "engine_version": "engine version",
    "chunk_size": "--chunk-size",
    "loans_sha256": "--loans",
    "paths": "--paths",
    "policy": "--policy",
}


@dataclass
class ChunkRecord:
    """A finished chunk: its lines, its rows and the digests of its staged files."""

    first_line: int
    last_line: int
    rows: int
    quarantined: int
    values_file: str
    values_sha256: str
    quarantine_file: str
    quarantine_sha256: str

    def intact(self, staging: Path) -> bool:
        """Whether both staged files exist with the recorded digests."""
        for name, digest in (
            (self.values_file, self.values_sha256),
            (self.quarantine_file, self.quarantine_sha256),
        ):
            path = staging / name
            if not path.is_file() or sha256_file(path) != digest:
                return False
        return True


@dataclass
class Ledger:
    """The ledger document (see the module docstring)."""

    input: dict[str, Any]
    arguments: dict[str, Any]
    chunks: dict[int, ChunkRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the document written to ``ledger.json``."""
        return {
            "format": LEDGER_FORMAT,
            "input": self.input,
            "arguments": self.arguments,
            "chunks": {str(i): vars(c) for i, c in sorted(self.chunks.items())},
        }

    @classmethod
    def read(cls, path: Path) -> Ledger:
        """Read a ledger; a malformed one is a :class:`DpvInputError` naming the file."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != LEDGER_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            chunks = {int(i): ChunkRecord(**c) for i, c in doc["chunks"].items()}
            return cls(input=dict(doc["input"]), arguments=dict(doc["arguments"]), chunks=chunks)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DpvInputError(MSG_LEDGER_BAD.format(detail=exc), source=str(path)) from None

    def write(self, path: Path) -> None:
        """Rewrite the ledger atomically."""
        text = json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n"
        write_atomic(path, text.encode("utf-8"))

    def check_matches(self, other: Ledger, source: str) -> None:
        """Refuse (``DpvInputError``) when ``other``'s input or arguments differ from these."""
        if self.input.get("sha256") != other.input.get("sha256"):
            raise DpvInputError(
                MSG_INPUT_CHANGED.format(
                    recorded=str(self.input.get("sha256")), found=str(other.input.get("sha256"))
                ),
                source=source,
                field="--resume",
            )
        for key in sorted(set(self.arguments) | set(other.arguments)):
            recorded, found = self.arguments.get(key), other.arguments.get(key)
            if recorded != found:
                raise DpvInputError(
                    MSG_ARGUMENT_CHANGED.format(recorded=recorded, found=found),
                    field=f"--resume: {OPTION_NAMES.get(key, key)}",
                )


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling, fsync and rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


__all__ = ["LEDGER", "ChunkRecord", "Ledger", "write_atomic"]
