"""The flows, one per file, each reading top to bottom like the story it runs: `full_pipeline` (the main
job), `predict`, `sweep`, `serve` (scheduled retraining) and `sine_fit`. The scripts `flows/<job>.py` and the
`mlpflow` command run them."""
