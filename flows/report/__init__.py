"""What people read: the report's content from typed data (`content`), its figures (`figures`), rendered to
report.md and report.html, and the Prefect artifacts of every flow (`artifacts`)."""
