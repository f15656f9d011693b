"""What a run leaves on disk: `layout` decides every folder and file name (inputs' defaults, runs, latest,
data sets, models, sweeps); `runs` claims a run's folder and records it; `history` is its history.csv and
`tables` the one CSV writer; `champion` is the promoted model of each data folder. No Prefect here.
"""
