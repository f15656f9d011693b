"""What people read: the report's content from typed data (`content`), its figures (`figures`), rendered from
the jinja2 templates in templates/ to report.md, report.html and Markdown artifacts (`render`), and the
Prefect artifacts of every flow (`artifacts`)."""
