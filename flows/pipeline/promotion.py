"""The last stages: point `latest` at the finished run, and score its model against its data folder's
champion (`flows.store.champion`), promoting it only when it is better beyond chance (`promotion_min_samples`,
`promotion_alpha`).
"""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.pipeline.params import PipelineParams
from flows.pipeline.sources import DataSource
from flows.report.artifacts import publish_promotion
from flows.store.champion import Promotion, promote_if_better
from flows.store.layout import RunLayout, models_dir, source_key
from flows.store.runs import point_latest
from mlp.data import files
from mlp.data.stream import read_rows


@task(cache_policy=NO_CACHE)
def mark_latest(output_dir: Path, layout: RunLayout) -> Path:
    """Point `<output>/latest` at this run, now that its files are complete."""
    link = point_latest(output_dir, layout.root)
    get_run_logger().info(f"{link} -> {layout.root}")
    return link


@task(cache_policy=NO_CACHE)
def promote(layout: RunLayout, source: DataSource, params: PipelineParams) -> Promotion:
    """Score this run's model against its data folder's champion on this run's validation images that the
    champion was not trained on; promote it, with the hashes of this run's training images, when it is
    better on at least `params.promotion_min_samples` images and McNemar's exact test gives p below
    `params.promotion_alpha`."""
    ds, split = files.read_index(layout.dataset), files.load_arrays(layout.split)  # no training pixels
    val, train = split["val"], split["train"]
    models = models_dir(params.output_dir, source_key(source.root))
    X_val = read_rows(layout.dataset, val)[0]
    promotion = promote_if_better(layout.best, X_val, ds.y[val], models, layout.name,
                                  val_hashes=ds.hashes[val], train_hashes=ds.hashes[train],
                                  min_samples=params.promotion_min_samples, alpha=params.promotion_alpha)
    publish_promotion(promotion)
    get_run_logger().info(f"{promotion.sentence()} ({promotion.n_excluded} validation images left out: the "
                          "champion was trained on them)")
    return promotion
