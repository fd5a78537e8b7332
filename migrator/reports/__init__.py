"""What a run leaves behind: the run report (JSON) and its HTML page, written at the end of a migration, also
when it fails or is stopped.

    record.py     RunRecord: what the job fills in as it goes (tables, plan, live progress, task results, verdict)
"""
