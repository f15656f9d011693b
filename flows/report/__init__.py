"""What people read: the report's input (`data`: `ReportData`, which `flows.pipeline.reporting` reads from
the run's files) and every value it shows (`content`; the data-quality section `quality`; the settings that
applied `settings`; `table`, the one table shape), its figures (`figures`; display-name fonts `fonts`),
rendered from the jinja2 templates in templates/ to report.md, report.html and Markdown artifacts (`render`),
and the Prefect artifacts of every flow (`artifacts`); `runs` is the history of runs as people read it
(`mlpflow runs`, the `run-history` artifact, index.html)."""
