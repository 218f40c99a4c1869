"""Shared code of the DVC continuous-training project: stages and ct.py stay thin over it.

Folders, one job each: `data/` (tables in, typed, and their contract), `model/` (features, estimator,
prediction, evaluation, gates), `drift/` (batch vs reference), `dask/` (the Dask engine), `tracking/`
(Neptune runs, offline by default), `runs/` (those runs read back, exported, pruned), `ct/` (continuous
training), `serve/` (production over HTTP), `cli/` (ct.py's commands). Beside them, what all share:
`config` (params.yaml checked), `layout` (every path, once), `io` (readable errors, atomic writes),
`errors` (the one user-facing error), `provenance` (code and library versions), `stage` (what every stage
script shares), `cpu` (NumPy's sort off AVX-512 on AMD Zen 4).
"""
