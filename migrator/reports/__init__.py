"""What a run leaves behind: the run report (JSON) and its HTML page, written at the end of a migration, also
when it fails or is stopped.

    record.py     RunRecord: what the job fills in as it goes (tables, plan, live progress, task results, verdict)
    document.py   the JSON document from a RunRecord and the run's Outcome (succeeded, failed, stopped)
    page.py       the HTML page from that document: verdict and counts, items/s chart, items per task (inline SVG)
    files.py      the report's path (checked before the run; S3 refused), the page beside it, writing both
"""
