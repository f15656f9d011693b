"""Parallel decoding: worker processes (and a Dask cluster's workers) give the serial ingest's rows and
hashes, in the files' order; a bad worker count is a one-line error."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from mlp.data import files
from mlp.data.decoding import CHUNK_FILES, chunks, decode_files
from tests.data_trees import clean_root, save_1bit, save_rgb

CLASSES = ("1", "2", "10")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A folder of 3 x 60 images plus trouble: an unreadable file, a wrong-size image, an RGB one."""
    root = tmp_path_factory.mktemp("generated") / "data"
    clean_root(root, per_class=60, classes=CLASSES)
    (root / "train" / "1" / "broken.bmp").write_bytes(b"BM" + bytes(range(60)))
    save_rgb(root / "train" / "2" / "rgb.bmp", seed=7)
    import numpy as np

    save_1bit(root / "train" / "10" / "wide.bmp", np.zeros((6, 9), np.uint8))
    return root


def same_parquet(a, b) -> None:
    """Two ingested data sets hold the same rows, in the same order, and the same metadata."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.num_rows == tb.num_rows > 0
    assert ta.equals(tb)
    assert files.read_metadata(a) == files.read_metadata(b)


def test_worker_processes_give_the_serial_rows_and_hashes(generated, tmp_path):
    serial = files.ingest(generated, tmp_path / "serial.parquet")
    parallel = files.ingest(generated, tmp_path / "parallel.parquet", workers=2)
    assert (parallel.n_images, parallel.n_decoded) == (serial.n_images, serial.n_decoded) == (181, 183)
    assert parallel.quality.to_dict() == serial.quality.to_dict()  # the unreadable and wrong-size files too
    same_parquet(serial.path, parallel.path)


def test_decoding_keeps_the_order_of_the_files(generated):
    paths = sorted(str(p) for p in (generated / "train").rglob("*.bmp"))
    assert len(chunks(paths, 2)) == 8  # four chunks per worker on a small folder
    assert max(map(len, chunks(list(range(10**6)), 2))) == CHUNK_FILES
    serial, parallel = decode_files(paths), decode_files(paths, workers=2)
    assert [d.sha256 for d in parallel] == [d.sha256 for d in serial]
    assert [d.error for d in parallel] == [d.error for d in serial]
    for a, b in zip(serial, parallel, strict=True):
        assert (a.pixels is None and b.pixels is None) or (a.pixels == b.pixels).all()


def test_a_dask_clusters_workers_give_the_serial_rows(generated, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed "
                                      "(pip install -e '.[dask]')")
    serial = files.ingest(generated, tmp_path / "serial.parquet")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = files.ingest(generated, tmp_path / "dask.parquet", executor=client.get_executor())
    same_parquet(serial.path, on_dask.path)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True, "2"])
def test_a_bad_worker_count_is_named(workers, generated, tmp_path):
    with pytest.raises(ValueError, match=f"workers must be an integer >= 1 .*got {workers!r}"):
        files.ingest(generated, tmp_path / "x.parquet", workers=workers)
    assert not (tmp_path / "x.parquet").exists()


def test_hanzi12_in_parallel_is_the_serial_ingest(hanzi12_root, tmp_path):
    serial = files.ingest(hanzi12_root, tmp_path / "serial.parquet")
    parallel = files.ingest(hanzi12_root, tmp_path / "parallel.parquet", workers=2)
    assert parallel.n_images == serial.n_images == 6720
    same_parquet(serial.path, parallel.path)
