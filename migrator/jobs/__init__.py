"""Spark jobs: thin wiring of the readers and writers into RDD stages."""
