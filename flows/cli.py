"""The command line: ``mlpflow <command>`` and the scripts ``python flows/<job>.py``, which run the same code.

    mlpflow run     [pipeline flags]        python flows/full_pipeline.py   train, report, promote
    mlpflow predict --model M --images DIR  python flows/predict.py         predict a folder of images
    mlpflow sweep   [--configs ...] [flags] python flows/sweep.py           compare configurations
    mlpflow serve   [--cron ...] [flags]    python flows/serve.py           scheduled retraining
    mlpflow sine    [--iterations N ...]    python flows/sine_fit.py        fit sin(2πx)
    mlpflow runs    [--output-dir DIR]      python flows/runs.py            the history of runs

Each command parses and checks its flags first (a bad one ends with a one-line error, exit status 2), then
what would fail the run at once (`flows.environment.preflight`: the output folder, `latest`, the class
folders, free disk space; also exit status 2), and only then imports Prefect and the flow it runs, so that
``--help`` answers at once. The environment the flows run in (`flows.environment.apply`) is set before
anything else loads.

An expected failure inside a flow (`flows.errors.expected`: an empty class folder, a damaged checkpoint, a
full disk, ...) ends the command with one line naming the cause and the remedy, exit status 1; Prefect's
console output leaves its traceback out, and the run's log in Prefect keeps it. ``--debug`` (any command; or
MLPFLOW_DEBUG=1) shows the tracebacks. Any other exception is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from flows import environment, errors
from flows.store import layout

STARTED = time.perf_counter()  # when the command line was loaded: the start of the "imports" time


def fail(prog: str, message: str) -> NoReturn:
    """End the command as argparse does: one line on stderr, exit status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


DEBUG = False  # --debug: tracebacks of expected failures on the console too (set by run_command)


def _prefect_console() -> None:
    """Prefect is loaded (its logging configured): keep tracebacks of expected failures off its console
    output, unless --debug."""
    errors.quiet_console(not DEBUG)


def _preflight(prog: str, params: Any, networks: int) -> None:
    """End the command in one line (exit status 2) if its output folder, data or disk would fail the run."""
    from flows.pipeline.sources import resolve_data

    try:
        source = resolve_data(params.data_dir)
    except OSError as error:
        fail(prog, str(error))
    problem = environment.preflight(params.output_dir, source.root, params.hidden, networks)
    if problem:
        fail(prog, problem)


RESUME_HELP = """\
A run stopped before it completed (killed, the machine stopped, a failure that has passed) keeps its folder,
its state (state.json: running or failed) and each network's last checkpoint. --resume continues the newest
such run of --output-dir, or the one named, with the parameters it began with (its params.json; only
--ingest-workers, --train-retries and --keep-runs may be given too): the data stages again, then each network
from its last epoch, ending with the weights of an uninterrupted run:

    python flows/full_pipeline.py --resume                  # the newest incomplete run of artifacts/
    python flows/full_pipeline.py --resume 20261203-091500-hanzi12 --output-dir /data/out
"""


def run(argv: Sequence[str], prog: str) -> Any:
    """Train on folders of BMP images (the main job), or continue an incomplete run (--resume); print the
    time taken, then the validation accuracy and where report.html is."""
    from flows.pipeline.params import build_parser, parse_args

    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, add_help=False,
                                     parents=[build_parser(prog)], epilog=RESUME_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument_group("resuming").add_argument(
        "--resume", nargs="?", const="", metavar="RUN", help="continue the newest incomplete run of "
        "--output-dir, or RUN (a folder name under <output-dir>/runs), with its own parameters")
    parser.parse_args(argv)  # --help, and an unknown flag, end here
    only_resume = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    only_resume.add_argument("--resume", nargs="?", const="")
    args, rest = only_resume.parse_known_args(argv)
    params, resume = parse_args(rest, prog=prog), None
    if args.resume is not None:
        params, resume = _resumed(prog, rest, params.output_dir, args.resume)
    from flows.pipeline import demo_data
    from flows.pipeline.sources import resolve_data

    if params.data_dir is None and resolve_data(None).kind == "demo" and not demo_data.available():
        fail(prog, demo_data.NEEDS_SKLEARN)
    _preflight(prog, params, networks=len(params.members))
    from flows.jobs.full_pipeline import full_pipeline
    from flows.pipeline.training import describe_epochs

    _prefect_console()
    called = time.perf_counter()
    result = full_pipeline(params, resume=resume)
    ended = time.perf_counter()
    stages = sum(result.stage_seconds.values())
    print(f"Finished in {ended - STARTED:.1f} s: imports {called - STARTED:.1f} s, Prefect start-up "
          f"{result.entered - called:.1f} s, stages {stages:.1f} s "
          f"({', '.join(f'{k} {v:.1f}' for k, v in result.stage_seconds.items())}).")
    print(f"Validation accuracy {result.val_accuracy:.2%} ({describe_epochs(result.best_epochs)}); "
          f"report: {result.report}")
    return result


# The flags --resume takes besides --output-dir: they change how a run goes, not what it trains.
RESUME_MAY_CHANGE = ("output_dir", "ingest_workers", "train_retries", "keep_runs")


def _resumed(prog: str, rest: Sequence[str], output_dir: Path, name: str) -> tuple[Any, str]:
    """The parameters and the name of the run ``--resume [NAME]`` continues in `output_dir` (the newest
    incomplete one for ""), with the flags of RESUME_MAY_CHANGE given in `rest`; a problem ends the command
    in one line."""
    from flows.pipeline.params import PipelineParams, build_parser, flag
    from flows.store.run_state import resumable
    from flows.store.runs import read_record

    given = {k: v for k, v in vars(build_parser(prog).parse_args(rest)).items() if v is not None}
    refused = [flag(k) for k in given if k not in RESUME_MAY_CHANGE]
    if refused:
        fail(prog, "--resume continues a run with the parameters it began with (its params.json); leave out "
             + ", ".join(refused))
    try:
        layout = resumable(output_dir, name or None)
        record = read_record(layout)
        params = PipelineParams(**{**record["parameters"], **given, "output_dir": output_dir})
    except (OSError, ValueError, KeyError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        fail(prog, " ".join(str(error).split()))
    return params, layout.name


PREDICT_HELP = """\
--model   a checkpoint (.npz); a run folder (its checkpoints/best.npz), e.g. artifacts/latest; or a champion
          or version folder (its model.npz), e.g. artifacts/models/<key>/champion
--images  one image, a flat folder, or class folders <label>/... (read recursively)
--out     the CSV to write (default: predictions.csv in the current folder)

The model applies the preprocessing stored in its checkpoint to the raw pixels. The CSV has one row per
usable image: path (relative to DIR), predicted_label (the class folder name), predicted_name (its display
name) and probability (of the predicted class); when DIR has class folders also true_label (the image's class
folder, or "" for an image outside the model's class folders: such images are predicted but unlabelled), and
the accuracy over images in the model's class folders is printed. Unreadable images and images of another
size than the model's are left out and listed (in the log and the `prediction-summary` artifact), not fatal.
"""


def predict(argv: Sequence[str], prog: str) -> Any:
    """Predict every image of a folder with a trained model; print where the CSV is and the accuracy."""
    parser = argparse.ArgumentParser(prog=prog, description="Predict the class of every image in a folder "
                                     "with a trained model.", epilog=PREDICT_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, metavar="PATH",
                        help="checkpoint, run folder or champion folder")
    parser.add_argument("--images", type=Path, required=True, metavar="DIR",
                        help="image, flat folder or class folders")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), metavar="CSV",
                        help="CSV to write (default: predictions.csv)")
    args = parser.parse_args(argv)
    from flows.store.layout import resolve_model

    try:
        checkpoint = resolve_model(args.model)
    except (FileNotFoundError, ValueError) as error:
        fail(prog, f"--model: {error}")
    if not args.images.exists():
        fail(prog, f"--images: {args.images} does not exist")
    from mlp.data.folders import image_files

    if args.images.is_dir() and not image_files(args.images):
        fail(prog, f"--images: no .bmp image in {args.images} (read recursively); give an image, a "
             "folder of images or class folders <label>/*.bmp")
    if args.out.is_dir():
        fail(prog, f"--out: {args.out} is a folder; give a file name such as predictions.csv")
    from flows.jobs.predict import folder_list, image_sizes, misfit
    from flows.jobs.predict import predict as predict_flow

    if args.images.is_file() and not image_sizes(args.images):
        fail(prog, f"--images: {args.images} is not a readable image; give an image, a folder of images or "
             "class folders <label>/*.bmp")
    try:
        problem = misfit(checkpoint, args.images)  # no image of the model's size: say so before the flow
    except ValueError as error:  # not a checkpoint of the image pipeline, or a damaged one
        fail(prog, f"--model: {error}")
    if problem:
        fail(prog, f"--images: {problem}")

    _prefect_console()
    summary = predict_flow(model=args.model, images=args.images, out=args.out)
    scored = "" if summary.accuracy is None else f"; accuracy {summary.accuracy:.2%}"
    left_out = f"; {len(summary.problems)} files left out (listed above)" if summary.problems else ""
    unlabelled = f"; unlabelled, not a class: {folder_list(summary)}" if summary.unlabelled else ""
    print(f"{summary.n_images} predictions written to {summary.csv}{scored}{unlabelled}{left_out}")
    return summary


def sweep(argv: Sequence[str], prog: str) -> Any:
    """Train several configurations on one split; print the best and where the comparison is."""
    from flows.pipeline.params import PipelineParams, build_parser, parse_args
    from flows.pipeline.variants import STUDIES, VARIANTS, configurations, describe_changes

    about = ("Compare training configurations on one data set and one split: the data is ingested, checked "
             "and split once, then every configuration trains and is evaluated on it, two at a time. The "
             "pipeline flags below set the base configuration; each configuration changes it.")
    epilog = ("studies (--configs takes their names too):\n" + _listing(STUDIES.items())
              + "\n\nconfigurations (their changes to the base):\n"
              + _listing((name, describe_changes(name)) for name in VARIANTS))
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, add_help=False,
                                     parents=[build_parser(prog)], epilog=epilog,
                                     description=textwrap.fill(about, HELP_WIDTH),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _sweep_flags(parser.add_argument_group("the configurations and where they run"))
    parser.parse_args(argv)  # --help; a flag neither the sweep nor the pipeline has ends here, in one line
    sweep_only = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    _sweep_flags(sweep_only)
    args, rest = sweep_only.parse_known_args(argv)
    names = [n.strip() for n in args.configs.split(",")]
    try:
        chosen_configs = configurations(PipelineParams(), names)
    except ValueError as error:
        parser.error(f"--configs: {error}")
    params = parse_args(rest, prog=f"{prog} [--configs NAMES] [--runner R] [--address A]")
    from flows.pipeline.runners import api_problem, runner_problem

    problem = runner_problem(args.runner, args.address)  # the extra installed, the scheduler answering
    if problem is None and args.address is not None:
        from prefect.settings import PREFECT_API_URL

        problem = api_problem(args.address, PREFECT_API_URL.value())  # remote workers reach Prefect
    if problem:
        fail(prog, problem)
    _preflight(prog, params, networks=len(params.members) * max(1, len(chosen_configs)))
    from flows.jobs.sweep import run_sweep

    _prefect_console()
    result = run_sweep(params, names, args.runner, args.address)
    best = result.rows[0]
    print(f"Best: {best['config']} ({best['changes']}), validation accuracy {best['val_accuracy']:.2%}; "
          f"comparison: {result.markdown}")
    return result


def _sweep_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The sweep's own flags: which configurations (--configs) and where they run (--runner, --address)."""
    from flows.pipeline.runners import RUNNERS

    parser.add_argument("--configs", default="one-change", metavar="NAME[,NAME...]",
                        help="configurations or studies to train, separated by commas (default: one-change; "
                        "listed below)")
    parser.add_argument("--runner", default="threads", choices=list(RUNNERS),
                        help="where the configurations train: " + "; ".join(
                            f"{name}, {text}" for name, text in RUNNERS.items()) + " (default: threads)")
    parser.add_argument("--address", default=None, metavar="tcp://HOST:PORT",
                        help="the scheduler of a running Dask cluster, for --runner dask (default: a "
                        "LocalCluster on this machine); its workers need mlpflow installed and the data and "
                        "output folders at the same paths")


HELP_WIDTH = 79  # columns of the help texts laid out by hand


def _listing(items: Iterable[tuple[str, str | Sequence[str]]]) -> str:
    """(name, text or names) pairs as an indented two-column list for --help, texts wrapped."""
    lines = []
    for name, text in items:
        text = text if isinstance(text, str) else ", ".join(text)
        wrapped = textwrap.wrap(text, HELP_WIDTH - 30, break_on_hyphens=False) or [""]
        lines.append(f"  {name:<27} {wrapped[0]}")
        lines += [" " * 30 + line for line in wrapped[1:]]
    return "\n".join(lines)


SERVE_HELP = """\
Schedules run only on a real Prefect server (the temporary one a plain run starts does not run them). In one
terminal start the server (its UI is at http://127.0.0.1:4200):

    prefect server start

In another, point Prefect at it and serve the deployment until Ctrl-C:

    export PREFECT_API_URL=http://127.0.0.1:4200/api
    mlpflow serve                                  # nightly at 03:00 UTC: --cron "0 3 * * *"
    mlpflow serve --cron "30 2 * * 1-5" --timezone Europe/Berlin --data-dir data/raw --epochs 40

Any pipeline flag after the serve options becomes a default parameter of the deployment. Trigger a run
outside the schedule, optionally with other parameters:

    prefect deployment run 'full-pipeline/daily-0300' --watch
    prefect deployment run full-pipeline/daily-0300 -p params='{"data_dir": "data/raw", "epochs": 5}'

The deployment is named after its schedule (daily-0300 for the default "0 3 * * *", weekdays-0230 for
"30 2 * * 1-5"; --name to choose one); prefect deployment ls lists them.

A run's `params` replaces the deployment's as a whole, so give every setting that differs from the
pipeline's defaults. Stopping the command does not pause the schedule: the server keeps scheduling runs,
which start (late) once the deployment is served again.
"""


def serve(argv: Sequence[str], prog: str) -> Any:
    """Serve the main job as a deployment on a cron schedule until interrupted."""
    from flows.jobs import serve as job
    from flows.pipeline.params import parse_args

    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False, epilog=SERVE_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Scheduled retraining: serve the main job as a Prefect "
                                     "deployment on a cron schedule.")
    parser.add_argument("--cron", default=job.DEFAULT_CRON, help=f"schedule (default: {job.DEFAULT_CRON!r})")
    parser.add_argument("--timezone", default=None, metavar="TZ", help="IANA time zone (default: UTC)")
    parser.add_argument("--name", default=None, help="deployment name (default: named after the schedule, "
                        f"e.g. {job.deployment_name(job.DEFAULT_CRON)} for {job.DEFAULT_CRON!r})")
    args, rest = parser.parse_known_args(argv)
    params = parse_args(rest, prog=f"{prog} [serve options]")
    try:
        job.cron_schedule(args.cron, args.timezone)
    except ValueError as error:
        parser.error(str(error))
    if not job.server_configured():
        parser.error(job.NO_SERVER)
    _prefect_console()
    return job.serve_pipeline(params, cron=args.cron, timezone=args.timezone, name=args.name)


def sine(argv: Sequence[str], prog: str) -> Any:
    """Fit sin(2πx) with an MLP [1, 100, 100, 1]; print the final MSE and where the figure is."""
    from flows.pipeline.params import SINE_DEFAULTS, Iterations, LearningRate, Seed, checked, flag_help

    parser = argparse.ArgumentParser(
        prog=prog, description="The seed design's first experiment: fit sin(2πx) on [0, 1] with an MLP "
        "[1, 100, 100, 1] (ReLU, MSE, full-batch Adam); writes <output-dir>/sine_fit.png and the sine-fit "
        "artifact.")
    for name, annotation, metavar in (("iterations", Iterations, "N"), ("lr", LearningRate, "LR"),
                                      ("seed", Seed, "SEED")):
        default = SINE_DEFAULTS[name]
        parser.add_argument(f"--{name}", type=checked(annotation), default=default, metavar=metavar,
                            help=flag_help(annotation, default))
    parser.add_argument("--output-dir", type=Path, default=layout.ARTIFACTS_DIR, metavar="DIR",
                        help=f"where sine_fit.png is written (default: {layout.ARTIFACTS_DIR})")
    args = parser.parse_args(argv)
    problem = environment.folder_problem(args.output_dir)
    if problem:
        fail(prog, problem)
    from flows.jobs.sine_fit import FIGURE, sine_fit

    _prefect_console()
    mse = sine_fit(iterations=args.iterations, lr=args.lr, seed=args.seed, output_dir=args.output_dir)
    print(f"final MSE {mse:.3e} after {args.iterations} iterations; figure {args.output_dir / FIGURE}")
    return mse


def runs(argv: Sequence[str], prog: str) -> Any:
    """Print the history of runs of an output folder, newest first, as aligned text (no Prefect); return
    its rows."""
    parser = argparse.ArgumentParser(prog=prog, description="Print the history of runs of an output folder "
                                     "(history/runs.parquet), newest first; index.html lists the same runs "
                                     "with links to their reports.")
    parser.add_argument("--output-dir", type=Path, default=layout.ARTIFACTS_DIR, metavar="DIR",
                        help=f"the runs' output folder (default: {layout.ARTIFACTS_DIR})")
    parser.add_argument("--data", metavar="KEY", help="only the runs on this data set: its key, as the "
                        "data column shows it (e.g. hanzi12-0123456789ab)")
    args = parser.parse_args(argv)
    from flows.report.runs import runs_text
    from flows.store.run_history import read_runs

    try:
        everything = read_runs(args.output_dir)
    except ValueError as error:
        fail(prog, str(error))
    rows = [r for r in everything if args.data is None or r.data_key == args.data]
    if rows:
        print(runs_text(rows), end="")
    elif everything:
        keys = ", ".join(sorted({r.data_key or "n/a" for r in everything}))
        print(f"No runs on data {args.data} in {args.output_dir}; its runs' data keys: {keys}")
    else:
        print(f"No runs recorded in {args.output_dir} yet ({layout.run_history_path(args.output_dir)} does "
              "not exist)")
    return rows


# command -> (what it does, its function); the scripts flows/<job>.py name their command
COMMANDS: dict[str, tuple[str, Callable[[Sequence[str], str], Any]]] = {
    "run": ("train on folders of BMP images: data set, model, checkpoints, report, promotion", run),
    "predict": ("predict the class of every image in a folder with a trained model", predict),
    "sweep": ("train several configurations on one split and compare them", sweep),
    "serve": ("serve the main job on a cron schedule (scheduled retraining)", serve),
    "sine": ("fit sin(2πx) with a small MLP (the seed design's first experiment)", sine),
    "runs": ("print the history of runs, newest first", runs),
}
SCRIPTS = {"run": "flows/full_pipeline.py", "predict": "flows/predict.py", "sweep": "flows/sweep.py",
           "serve": "flows/serve.py", "sine": "flows/sine_fit.py", "runs": "flows/runs.py"}


def run_command(command: str, argv: Sequence[str] | None = None, prog: str | None = None) -> Any:
    """Run one command with its arguments (default ``sys.argv[1:]``), in mlpflow's environment; return what
    its flow returned. `prog` names the command in usage lines (default ``python flows/<job>.py``).

    An expected failure (`flows.errors.expected`) ends it with one line on stderr and exit status 1 (with
    ``--debug``, an argument of every command, it is raised with its traceback); other exceptions
    propagate."""
    global DEBUG
    environment.apply()
    argv = list(sys.argv[1:] if argv is None else argv)
    DEBUG = errors.take_debug(argv)
    prog = prog or f"python {SCRIPTS[command]}"
    try:
        return COMMANDS[command][1](argv, prog)
    except Exception as error:
        if DEBUG or not errors.expected(error):
            raise
        print(errors.one_line(prog, error), file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: Sequence[str] | None = None) -> Any:
    """``mlpflow <command> [flags]``: the console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="mlpflow", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A NumPy multilayer perceptron trained in a Prefect pipeline.",
        epilog="commands:\n" + "\n".join(f"  {name:<9}{text}" for name, (text, _) in COMMANDS.items())
        + "\n\n`mlpflow <command> --help` for a command's flags. Every command also takes --debug: an "
        "expected failure then shows its traceback, not only its one-line error.")
    parser.add_argument("command", choices=list(COMMANDS), metavar="command",
                        help=f"one of {', '.join(COMMANDS)}")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        raise SystemExit(0 if argv else 2)
    args = parser.parse_args(argv[:1])
    return run_command(args.command, argv[1:], prog=f"mlpflow {args.command}")


def console() -> int:
    """The `mlpflow` console script's entry point: `main`, exit status 0 when the command finished."""
    main()
    return 0
