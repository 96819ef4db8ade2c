"""Which device runs the stress kernel: ``cpu``, ``cuda`` or ``auto``.

:func:`resolve_device` turns the user's choice into the device that will run: ``auto`` takes
a GPU when numba-cuda is installed and finds one, and the CPU otherwise, with a message that
says why; ``cuda`` without a GPU is an input error. :func:`use_device` sets the device for a
block of code (a :mod:`contextvars` variable, so threads and nested calls each see their own),
and :func:`current_device` is what :func:`valuation.risk.api.simulate` runs on. Nothing here
imports numba-cuda until a GPU is asked for, so the CPU paths work without it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
from collections.abc import Iterator
from typing import Literal

Device = Literal["cpu", "cuda"]
DEVICE_CHOICES: tuple[str, ...] = ("cpu", "cuda", "auto")

_CURRENT: contextvars.ContextVar[Device] = contextvars.ContextVar("dpv_device", default="cpu")


class DeviceUnavailableError(ValueError):
    """The GPU was asked for (``cuda``) but cannot run the stress kernel here."""


@functools.cache
def cuda_status() -> tuple[bool, str]:
    """Return whether numba-cuda finds a GPU, and a sentence that says what was found.

    ``NUMBA_ENABLE_CUDASIM=1`` (numba's CUDA simulator) counts as a GPU: the kernel's logic
    runs on the CPU, slowly, as it would on a device (for tests). A GPU with a numba-cuda that
    lacks an internal the kernels' bit identity needs
    (:mod:`~valuation.kernels.cuda._numba_internals`) does not.
    """
    try:
        from numba import cuda
    except ImportError as exc:
        return False, f"numba-cuda is not installed ({exc}); install dpv[cuda]"
    except Exception as exc:  # numba-cuda present but broken (a NumPy it does not support)
        return False, f"numba-cuda cannot be imported: {exc}"
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0"):
        return True, "the CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        if not cuda.is_available():
            return False, "numba-cuda finds no CUDA GPU or driver"
        name = cuda.get_current_device().name
    except Exception as exc:
        return False, f"numba-cuda cannot use the GPU: {exc}"
    from valuation.kernels.cuda._numba_internals import MissingInternalError, forbid_contraction

    try:
        forbid_contraction()
    except MissingInternalError as exc:
        return False, str(exc)
    return True, name.decode() if isinstance(name, bytes) else str(name)


def resolve_device(requested: str | None) -> tuple[Device, str | None]:
    """Return the device that runs for ``requested`` and a message for the user, if any.

    Parameters
    ----------
    requested
        ``"cpu"``, ``"cuda"``, ``"auto"``, or ``None`` for the device in force
        (:func:`current_device`, the CPU unless a caller chose otherwise).

    Returns
    -------
    tuple
        ``(device, message)``: ``message`` says why ``auto`` fell back to the CPU (else
        ``None``).

    Raises
    ------
    DeviceUnavailableError
        ``"cuda"`` was asked for and no GPU can run the kernel.
    ValueError
        ``requested`` is not one of the choices.
    """
    if requested is None:
        return current_device(), None
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {requested!r}")
    if requested == "cpu":
        return "cpu", None
    available, found = cuda_status()
    if requested == "cuda":
        if not available:
            raise DeviceUnavailableError(f"no GPU to run on: {found}")
        return "cuda", None
    if available:
        return "cuda", None
    return "cpu", f"device auto: running on the CPU ({found})"


def current_device() -> Device:
    """Return the device in force (set by :func:`use_device`; the CPU by default)."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_device(device: Device) -> Iterator[None]:
    """Run the block with the stress kernel on ``device`` (``"cpu"`` or ``"cuda"``)."""
    token = _CURRENT.set(device)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def announce(message: str | None) -> None:
    """Print a fallback message of :func:`resolve_device` on standard error."""
    if message:
        print(message, file=sys.stderr)


__all__ = [
    "DEVICE_CHOICES",
    "Device",
    "DeviceUnavailableError",
    "announce",
    "cuda_status",
    "current_device",
    "resolve_device",
    "use_device",
]
