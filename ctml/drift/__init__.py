"""Data drift detection: batch vs reference, per feature and for the model's predictions.

Modules, one concern each: `summary` (columns reduced to mergeable ECDFs / category counts),
`stats` (one function per statistic), `registry` (names, thresholds, kinds, the auto table),
`detect` (dataset level, local engine), `dask_engine` (the same over partitioned Parquet),
`plots` (DVC plot data and PNGs).
"""
