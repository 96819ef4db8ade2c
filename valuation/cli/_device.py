"""The ``--device`` option of the commands that run the stress kernel."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class DeviceChoice(StrEnum):
    """Where the stress kernel runs."""

    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


DeviceOption = Annotated[
    DeviceChoice,
    typer.Option(
        "--device",
        help="Where the Monte Carlo stress runs: cpu, cuda (an NVIDIA GPU; needs dpv[cuda]) or "
        "auto (the GPU if there is one, else the CPU). Every device gives the same numbers, "
        "bit for bit; the audit block names the one that ran.",
        case_sensitive=False,
    ),
]


def resolve_cli_device(choice: DeviceChoice) -> str:
    """Return the device that runs for ``choice``; say on stderr when ``auto`` falls back.

    Raises
    ------
    DpvInputError
        ``cuda`` and no GPU can run the kernel (exit code 2, naming ``--device``).
    """
    from valuation.exceptions import DpvInputError
    from valuation.kernels.cuda.select import DeviceUnavailableError, resolve_device

    try:
        device, message = resolve_device(choice.value)
    except DeviceUnavailableError as exc:
        raise DpvInputError(str(exc), field="--device") from None
    if message:
        typer.echo(message, err=True)
    return device
