"""Tabular data in and its contract: `tables` (sources read and typed), `dates` (dates written as text),
`exclusions` (columns that are no features), `task` (classification or regression), `schema` (the
recorded columns and ranges), `rules` (the value rules a row can break), `split` (the train/test split as row positions)."""
