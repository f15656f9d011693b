"""Images and datasets: BMP class folders to Parquet, quality checks, split, normalisation, augmentation.

The data layer: it uses NumPy, Pillow and pyarrow, and never loads the trainer.

- ``files``: the entry points that touch files: ``ingest`` (folders -> Parquet, incremental),
  ``read_dataset``, ``load_images`` (for prediction), ``save_arrays``/``load_arrays`` (.npz between stages).
- ``quality``: the quality report (pure), ``DatasetError``.
- ``split`` (stratified, duplicate-aware, grouped), ``transforms`` (``Normalizer``, shifts, shuffle),
  ``distort`` (random affine and elastic distortions) and ``views`` (raw, framed): pure NumPy, seeded.
- ``folders`` (walking, natural order, ``labels.txt``), ``images`` (Pillow decoding) and ``dataset``
  (containers) support them; every write goes through ``mlp.atomic``.
"""
