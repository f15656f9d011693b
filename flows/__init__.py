"""mlpflow's Prefect side: the flows around the `mlp` library, and what they share.

    flows/<job>.py, cli.py   the commands people type: python flows/full_pipeline.py, mlpflow run, ...
    flows/errors.py          which errors are clear ones: one line for the user, the traceback in the log
    flows/jobs/              the flows, one per file: full_pipeline, predict, sweep, serve, sine_fit
    flows/pipeline/          the parameters (one source) and the stages as Prefect tasks
    flows/store/             a run's folder and files, latest, the champion, the history of runs, retention
    flows/report/            the report and the Prefect artifacts: content, figures, templates
    flows/environment.py     the environment the flows run in (`apply`) and the checks before a run

Importing this package does nothing else: the commands apply the environment (`flows.environment.apply`).
"""
