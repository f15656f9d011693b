"""What a run leaves on disk: `layout` decides every folder and file name (runs, latest, data sets, models);
`runs` claims a run's folder and records it; `history` and `tables` are its CSV files; `champion` is the
promoted model of each data folder. No Prefect here.
"""
