"""The numba cache directory: versioned, and keyed by every kernel source."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import valuation.kernels
from valuation._version import __version__
from valuation.kernels import _jit


def test_cache_dir_is_keyed_by_the_versions_and_every_kernel_source(monkeypatch, tmp_path):
    monkeypatch.setenv("DPV_CACHE_DIR", str(tmp_path))
    folder = Path(valuation.kernels.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        name = path.relative_to(folder).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    name = _jit.cache_dir().name
    assert _jit.cache_dir().parent == tmp_path
    assert name.startswith(f"numba-{__version__}-{_jit.numba_version()}-py")
    assert name.endswith("-" + digest.hexdigest()[:12])
    sources = {p.relative_to(folder).as_posix() for p in folder.rglob("*.py")}
    assert {"rng.py", "stress/__init__.py", "stress/paths.py", "valuation.py"} <= sources


def test_an_edited_callee_module_gets_a_new_cache(tmp_path):
    """numba alone would reuse the stress kernels' cache after an edit of rng.py only."""
    package = tmp_path / "valuation" / "kernels"
    package.mkdir(parents=True)
    source = Path(valuation.kernels.__file__).parent
    for path in source.rglob("*.py"):
        copy = package / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(path.read_bytes())
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('probe_jit', r'{package / '_jit.py'}')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(module.kernel_sources_digest())\n"
    )
    before = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    (package / "rng.py").write_text((package / "rng.py").read_text() + "\n# edited\n")
    after = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert before.strip() and after.strip() and before != after
    normals = package / "stress" / "normals.py"  # a module of a kernel package counts too
    normals.write_text(normals.read_text() + "\n# edited\n")
    again = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert again.strip() and again != after
