"""The Dask engine (`compute.engine: dask`): `io` (a client, files as Parquet parts), `ingest` (the ingest
stage a partition at a time), `drift` (the drift computation over partitions, the local engine's report)."""
