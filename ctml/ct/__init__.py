"""Continuous training: batches in, drift measured, retrain + gates + release when it matters.

A folder per job, in the order they depend on one another (each imports only those before it):
`repo/` (git and DVC plumbing: processes, the warm in-process DVC, the data of a revision, the lock),
`release/` (versions as GTO tags, production, promotion, lineage, compare, experiments),
`step/` (one CT step: measure, decide, retrain, labels, the awaiting store, quarantine, alerts, recovery),
`intake/` (deliveries in: inbox, batches, partitioned files, replay, scenarios, the one step loop of
check, watch and simulate, how a command session starts) and `reporting/` (the terminal printer, the report's overview, its HTML).
Beside them, what all of them share: `context` (a command's Context and Printer), `records` (the
step record and the batch under check), `history` (the CT history file) and `webhook` (alert delivery).
"""
