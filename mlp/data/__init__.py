"""Images and datasets: BMP class folders to Parquet, quality checks, split, normalisation, augmentation."""
