"""Model versions and production: `tags` (GTO tags `model@vX.Y.Z`, `model#prod#N`), `production` (which
version is in production, read from the tags, and whether the workspace holds it), `promotion` (a
release: gates result, promotion into models/production, the commit, tags and push; rollback), `trigger`
(the drift measurement that triggered a retrain, kept for its release commit),
`versions` (a version's files without touching the workspace), `lineage` (what made a version),
`compare` (two versions side by side), `experiments` (a `dvc exp` experiment released), `shadow` (a
candidate in the GTO stage shadow: its release, local copy, promotion and retirement)."""
