"""One CT step: `measure` (mark in flight, stage, `dvc repro drift`, the figures on the record),
`decide` (the retrain rules, once), `retrain` (fold, reproduce, gate, release or discard), `fold` (a batch
into its lineage's DVC-tracked folder and out again; older batch layouts migrated), `run`
(a checked batch through all of that), `labels` (a delayed-label file joined to waiting rows),
`awaiting` (the rows waiting for labels), `trial` (the shadow's evidence on served traffic and the
decision on it), `quarantine` (bad batches and rows moved aside), `alerts`
(the events a finished step raises) and `recovery` (finishing or undoing a killed step)."""
