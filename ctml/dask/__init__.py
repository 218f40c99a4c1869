"""The Dask engine (`compute.engine: dask`): `io` (a client, files as Parquet parts, row groups as tasks),
`ingest` (the ingest stage a partition at a time), `validate` (row groups profiled and checked by the
workers, their findings combined), `preprocess` (the split's rows moved and the preprocessor fitted on the
cluster), `train` (XGBoost through `xgboost.dask`, and a split predicted a row group per task, for the
train, evaluate and gates stages), `drift` (the drift computation over partitions, the local engine's report)."""
