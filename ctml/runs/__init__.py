"""The tracked runs as a record a user keeps: read from Neptune's offline folders (`offline`), exported
to a local MLflow store (`export_mlflow`), pruned (`prune`).

Apart from `ctml.tracking` (which writes runs and which every stage imports) so that editing how runs
are read, exported or pruned never makes a pipeline stage stale.
"""
