"""The main job: folders of class-labelled BMP images to a trained MLP, its checkpoints and a report.

    python flows/full_pipeline.py [--data-dir DIR] [--hidden 512,256] [--epochs 30] ...   (--help for all)

The same as `mlpflow run`. The flow is `flows.jobs.full_pipeline`; its command line, `flows.cli`. The last
line printed is the validation accuracy and the path of report.html.
"""

from flows.cli import run_command

if __name__ == "__main__":
    run_command("run")
