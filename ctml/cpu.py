"""CPU settings every process of the project makes before NumPy and scikit-learn load.

1. OpenMP threads sleep while they wait (`passive_openmp_waits`).
2. NumPy stays off its AVX-512 sort on AMD Zen 4, where that sort is about 6x slower than AVX2's.

NumPy sorts float64 with x86-simd-sort, whose AVX-512 partition writes through `vcompresspd` to
memory: microcoded on Zen 4 (AMD family 19h, over 100 cycles an instruction, fixed in Zen 5).
Measured on this project's 2-core EPYC (Zen 4): `np.sort` of 1,000,000 float64 takes 65 ms on the
AVX-512 path and 11 ms on the AVX2 one. Sorting is most of what the drift stage does, so there
NumPy is told to skip its AVX-512 paths, the rule OpenJDK applies to its own SIMD sort on the same
CPUs (JDK-8317976); NumPy itself does not yet (numpy/numpy#32690).

NumPy reads `NPY_DISABLE_CPU_FEATURES` once, at import: `prefer_avx2_on_zen4` runs first in
every process of the project (`ct.py`, `python -m stages.<name>`, the test session), and the
variable carries it to the processes they start, so a warm in-process stage and the same stage
under `dvc repro` compute with the same instructions. A value the user set, even empty, wins.
"""
from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "NPY_DISABLE_CPU_FEATURES"
AVX512_GROUPS = "X86_V4 AVX512_ICL AVX512_SPR"  # NumPy 2.4's AVX-512 dispatch targets; X86_V3 (AVX2) stays
ZEN4_FAMILY = 25  # AMD family 19h: Zen 3 (no AVX-512) and Zen 4


def is_zen4(cpuinfo: str) -> bool:
    """An AMD family 19h CPU with AVX-512 (Zen 3 is family 19h too, without AVX-512)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor describes them all
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    family = fields.get("cpu family", "")
    return (fields.get("vendor_id") == "AuthenticAMD" and family.isdigit() and int(family) == ZEN4_FAMILY
            and "avx512f" in fields.get("flags", "").split())


def prefer_avx2_on_zen4(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Set NPY_DISABLE_CPU_FEATURES on Zen 4 unless it is set already; True when this call set it.
    Takes effect in this process only if NumPy is not imported yet, and in every child."""
    if VARIABLE in os.environ:
        return False
    try:
        zen4 = is_zen4(cpuinfo.read_text(errors="replace"))
    except OSError:  # not Linux, or no /proc: nothing to detect, NumPy keeps its own choice
        return False
    if zen4:
        os.environ[VARIABLE] = AVX512_GROUPS
    return zen4


OPENMP_WAIT = "OMP_WAIT_POLICY"


def passive_openmp_waits() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless it is set (even empty); True when this call set it.

    scikit-learn's HistGradientBoosting (evaluate's reference model, `train.model:
    hist_gradient_boosting`) and XGBoost run OpenMP threads that by default spin while they wait for
    work. Where the cores are shared (a test run, two ct.py commands, Dask workers beside a stage),
    spinning threads take the cores from the threads with work. Measured at load 11 on this project's
    2 cores: one default HistGradientBoostingClassifier fit on 769 rows took 55 s on the clock (10 s of
    CPU) with spinning waits and 1-2.4 s (0.6-1.1 s of CPU) with passive ones. A waiting thread then
    costs a wake-up per parallel region instead of a core. OpenMP reads the variable when its runtime
    loads, so this runs before scikit-learn is imported, as `prefer_avx2_on_zen4` does, and children
    inherit it."""
    if OPENMP_WAIT in os.environ:
        return False
    os.environ[OPENMP_WAIT] = "PASSIVE"
    return True
