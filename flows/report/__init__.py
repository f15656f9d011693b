"""What people read: the report's content from typed data (`content`; its data-quality section `quality`,
from the typed `QualityReport`; `table`, the one table shape), its figures (`figures`), rendered from the
jinja2 templates in templates/ to report.md, report.html and Markdown artifacts (`render`), and the Prefect
artifacts of every flow (`artifacts`). A value the report shows is computed in `content` (or `quality`) from
the `ReportData` that `flows.pipeline.reporting` reads from the run's files."""
