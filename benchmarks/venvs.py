"""The yardsticks' own virtual environments (Evidently and NannyML need other versions than the
project's): created on first use from a pinned requirements file, so a benchmark runs on a fresh machine."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def python_of(venv: Path, requirements: Path) -> Path:
    """The venv's Python; the venv created and `requirements` installed into it when it is not there yet."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (pip install -r {requirements.name}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
    return python
