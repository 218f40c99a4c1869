"""The pipeline's stage scripts, one per DVC stage, run as `python -m stages.<name>` from the project root.

Python runs this file before the stage's own module, so the CPU settings are in place before any
stage imports NumPy or scikit-learn (`ctml.cpu`: the same instructions and threads under `dvc repro`
as in ct.py's warm path).
"""
from ctml.cpu import passive_openmp_waits, prefer_avx2_on_zen4

prefer_avx2_on_zen4()
passive_openmp_waits()
