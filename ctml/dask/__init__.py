"""The Dask engine (`compute.engine: dask`): `io` (a client, files as Parquet parts), `ingest` (the ingest
stage a partition at a time), `preprocess` (the split and the preprocessor's fit on the cluster), `drift` (the drift computation over partitions, the local engine's report), `train` (XGBoost through
`xgboost.dask` and the test split predicted a row group per task, for the train and evaluate stages)."""
