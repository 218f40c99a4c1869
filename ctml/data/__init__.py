"""Tabular data in and its contract: `tables` (sources read and typed), `dates` (dates written as text),
`exclusions` (columns that are no features), `task` (classification or regression), `schema` (the
recorded columns and ranges), `profile` (what validate learns of a table, a block of rows at a time,
combined exactly), `rules` (the value rules a row can break), `split` (the train/test split as row positions), `folds`
(a lineage's folded CT batches: their files, and the manifest of where each came from)."""
