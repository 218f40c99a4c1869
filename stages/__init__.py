"""The pipeline's stage scripts, one per DVC stage, run as `python -m stages.<name>` from the project root.

Python runs this file before the stage's own module, so the NumPy setting is in place before any
stage imports NumPy (`ctml.cpu`: the same instructions under `dvc repro` as in ct.py's warm path).
"""
from ctml.cpu import prefer_avx2_on_zen4

prefer_avx2_on_zen4()
