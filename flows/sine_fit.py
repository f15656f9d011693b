"""The seed design's first experiment: fit sin(2πx) on [0, 1] with an MLP [1, 100, 100, 1].

    python flows/sine_fit.py [--iterations 10000] [--lr 3e-4] [--seed 0] [--output-dir artifacts]

The same as `mlpflow sine`. The flow is `flows.jobs.sine_fit`; its command line, `flows.cli`.
"""

from flows.cli import run_command

if __name__ == "__main__":
    run_command("sine")
