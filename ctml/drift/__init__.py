"""Data drift detection: batch vs reference, per feature and for the model's predictions.

Modules, one concern each: `summary` (columns reduced to mergeable ECDFs / category counts),
`stats` (one function per statistic), `methods` (names, thresholds, kinds, the auto table),
`tally` (a batch's column summaries and the model's hits, mergeable across partitions),
`results` (a feature's result, the report), `reference` (the reference reduced once and cached),
`detect` (dataset level, local engine; the Dask one is ctml.dask.drift), `estimate` (CBPE),
`multivariate` (domain classifier), `ranges` (values beyond training ranges), `plots` (DVC plot
data and PNGs).
"""
