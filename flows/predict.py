"""Predict the class of every image in a folder with a trained model.

    python flows/predict.py --model PATH --images DIR [--out predictions.csv]      (--help for more)

The same as `mlpflow predict`. The flow is `flows.jobs.predict`; its command line, `flows.cli`.
"""

from flows.cli import run_command

if __name__ == "__main__":
    run_command("predict")
