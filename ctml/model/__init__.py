"""The model: `features` (the preprocessing ColumnTransformer), `blocks` (it fitted
from per-block statistics, the same on both engines), `estimator` (build, fit, save, verified
load), `predict` (batch prediction held to the schema), `evaluate` (test metrics and plot data),
`images` (PNG versions of the plots), `gates` (what a candidate must pass to replace production)."""
