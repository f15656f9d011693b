"""The pipeline: its parameters (`params`, one source for every interface) and its stages as Prefect tasks.

One way through: data (`sources`, `demo_data`) → `stages` (start the run, ingest, quality, split, normalise,
augment, shuffle) → `training` → `evaluation` (and `predictions`) → `reporting` → `promotion`. What a trained
model is at prediction time (networks, views, normalisers, class names) is `classifier`; the sweep's
configurations are `variants`.
"""
