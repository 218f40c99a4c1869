"""ctml.cpu: OpenMP threads that sleep while they wait, and NumPy kept off its AVX-512 sort on AMD Zen 4 only;
both before NumPy and scikit-learn load, and never over the user's choice."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctml.cpu import AVX512_GROUPS, OPENMP_WAIT, VARIABLE, is_zen4, passive_openmp_waits, prefer_avx2_on_zen4
from tests.helpers import ROOT


def cpuinfo(vendor: str, family: int, flags: str) -> str:
    first = f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: test\nflags\t\t: {flags}\n"
    return first + "\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n"  # only the first processor is read


@pytest.mark.parametrize("vendor, family, flags, expected", [
    ("AuthenticAMD", 25, "fpu avx2 avx512f avx512dq", True),     # Zen 4
    ("AuthenticAMD", 25, "fpu avx2", False),                     # Zen 3: same family, no AVX-512
    ("AuthenticAMD", 26, "fpu avx2 avx512f", False),             # Zen 5: the store is fast again
    ("GenuineIntel", 6, "fpu avx2 avx512f", False),              # Intel: AVX-512 is x86-simd-sort's fastest path
    ("AuthenticAMD", 25, "fpu avx512fx", False),                 # a flag that only starts with avx512f
])
def test_only_amd_family_19h_with_avx512_is_zen4(vendor, family, flags, expected):
    assert is_zen4(cpuinfo(vendor, family, flags)) is expected


@pytest.mark.parametrize("text", ["", "garbage without colons\n", "vendor_id: AuthenticAMD\ncpu family: x19\nflags: avx512f\n"])
def test_unreadable_cpuinfo_is_not_zen4(text):
    assert is_zen4(text) is False


def test_sets_the_variable_on_zen4_only_when_unset(tmp_path: Path, monkeypatch):
    zen4 = tmp_path / "cpuinfo"
    zen4.write_text(cpuinfo("AuthenticAMD", 25, "avx2 avx512f"))
    monkeypatch.delenv(VARIABLE, raising=False)
    assert prefer_avx2_on_zen4(zen4) is True
    assert os.environ[VARIABLE] == AVX512_GROUPS
    monkeypatch.setenv(VARIABLE, "")  # the user's choice, even empty, wins
    assert prefer_avx2_on_zen4(zen4) is False
    assert os.environ[VARIABLE] == ""


def test_no_cpuinfo_leaves_numpy_alone(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    assert prefer_avx2_on_zen4(tmp_path / "missing") is False
    assert VARIABLE not in os.environ


def _numpy_uses_avx512(env: dict[str, str]) -> bool:
    """Whether NumPy dispatches to AVX-512 in a stage process (`python -m stages...` runs stages/__init__.py first)."""
    code = "import stages, numpy._core._multiarray_umath as m; print(m.__cpu_features__['X86_V4'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


@pytest.mark.skipif(not is_zen4(Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""),
                    reason="needs an AMD Zen 4 CPU")
def test_a_stage_process_on_zen4_runs_numpy_on_avx2():
    clean = {k: v for k, v in os.environ.items() if k != VARIABLE}
    assert _numpy_uses_avx512(clean) is False
    assert _numpy_uses_avx512({**clean, VARIABLE: ""}) is True  # the user opted out: NumPy's own choice


def test_openmp_waits_are_passive_unless_the_user_said(monkeypatch):
    monkeypatch.delenv(OPENMP_WAIT, raising=False)
    assert passive_openmp_waits() is True and os.environ[OPENMP_WAIT] == "PASSIVE"
    monkeypatch.setenv(OPENMP_WAIT, "ACTIVE")  # the user's choice wins
    assert passive_openmp_waits() is False and os.environ[OPENMP_WAIT] == "ACTIVE"


def test_a_stage_process_and_ct_py_start_with_passive_openmp_waits():
    """Set before scikit-learn loads its OpenMP runtime: in a stage process (stages/__init__.py runs
    first) and in ct.py's own process, where warm stages run."""
    env = {k: v for k, v in os.environ.items() if k != OPENMP_WAIT}
    code = "import stages, os, sklearn.ensemble; print(os.environ.get('OMP_WAIT_POLICY'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    code = ("import runpy, sys, os; sys.argv = ['ct.py', '--help']\n"
            "try:\n    runpy.run_path('ct.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "PASSIVE"
