"""Images and datasets: BMP class folders to Parquet, quality checks, split, normalisation, augmentation.

- ``io``: the entry points that touch files: ``ingest`` (folders -> Parquet, incremental), ``read_dataset``,
  ``load_images`` (for prediction), ``save_arrays``/``load_arrays`` (.npz between stages).
- ``quality``: the quality report (pure), ``DatasetError``.
- ``transforms``: split, ``Normalizer``, shift augmentation, shuffle (pure NumPy, seeded).
- ``folders`` (walking, natural order, ``labels.txt``), ``images`` (Pillow decoding) and ``dataset``
  (containers) support them; every write goes through ``mlp.atomic``.
"""
