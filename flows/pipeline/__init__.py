"""The pipeline: its parameters (`params`, one source for every interface) and its stages as Prefect tasks.

One way through: the data folder (`sources`, `demo_data`) → `preparation` (start the run, ingest, quality,
split, normalise, augment, shuffle) → `training` → `evaluation` (with `predictions`) → `promotion` →
`reporting` → `bookkeeping` (retention, and the run's row in the history of runs, failed runs' too). What a
trained model is at prediction time (its networks, views, normalisers and class names) is `classifier`; the
sweep's configurations are `variants`.
"""
