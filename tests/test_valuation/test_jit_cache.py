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
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    name = _jit.cache_dir().name
    assert _jit.cache_dir().parent == tmp_path
    assert name.startswith(f"numba-{__version__}-{_jit.numba_version()}-py")
    assert name.endswith("-" + digest.hexdigest()[:12])
    assert {"rng.py", "stress.py", "valuation.py"} <= {p.name for p in folder.glob("*.py")}


def test_an_edited_callee_module_gets_a_new_cache(tmp_path):
    """numba alone would reuse stress.py's cached kernels after an edit of rng.py only."""
    package = tmp_path / "valuation" / "kernels"
    package.mkdir(parents=True)
    source = Path(valuation.kernels.__file__).parent
    for path in source.glob("*.py"):
        (package / path.name).write_bytes(path.read_bytes())
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
