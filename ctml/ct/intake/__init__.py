"""Deliveries in: `inbox` (data/incoming and data/labels), `batches` (a frame typed and held to the
schema), `partitioned` (a big file a partition at a time), `deliveries` (every ready file, one step
each: `ct.py check`), `loop` (the one step loop of check, watch and simulate: records, alerts,
history, commit, exit code), `watcher` (`ct.py watch`), `scenarios` (simulated batches), `replay`
(a file replayed as a new source) and `session` (how a command that changes the project begins)."""
