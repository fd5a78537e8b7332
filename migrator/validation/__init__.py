"""The validator's task side: the two passes (`passes`), item comparison (`compare`), sampling (`sampling`) and the
report (`report`). `jobs/validate.py` runs them as Spark jobs."""
