"""What a run leaves on disk: `layout` decides every folder and file name (inputs' defaults, runs, latest,
data sets, models, sweeps, history); `runs` claims a run's folder and records it; `history` is its history.csv
and `tables` the one CSV writer; `champion` is the promoted model of each data folder, `promotion_rule` and
`mcnemar` the rule and the test that decide it; `run_history` is the history of runs (one Parquet table) and
`retention` what the output folder keeps; `locks` the file lock. No Prefect here.
"""
