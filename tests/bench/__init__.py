"""The migrator's benchmark: `./build.sh bench [--items N | --scaling]`, see `python -m tests.bench --help`.

Two dynalite servers on 127.0.0.1 play the source DynamoDB and the target Alternator. One run measures the
target's ingest ceiling, the source's scan ceiling, the migrator through ./submit.sh, and a plain boto3 copy,
then prints a table and writes every figure to bench-output/bench-<items>.json. The stream replay figure follows on
a moto source (moto has Streams) and a dynalite target: bench-output/bench-stream-<changes>.json; then the export
import figure, a DynamoDB export in moto's S3 imported into dynalite: bench-output/bench-export-<items>.json.

    workload.py       the items (pre-serialized BatchWriteItem bodies), tables, exact counts
    ceilings.py       load generators: ingest (BatchWriteItem) and parallel Scan ceilings
    process_stats.py  CPU and RSS of a process tree, sampled from /proc
    spark_job.py      one ./submit.sh run: wall and job time, first write, CPU, RSS, verification
    plain_copy.py     the boto3 copy a user would otherwise write
    report.py         the table, the goals and the JSON file
    steps.py          a step: timed, recorded, a failure reported as a figure
    backlog.py        the stream figure's changes, its moto table with a stream, and moto's GetRecords ceiling
    stream_figure.py  the stream figure's steps: backlog, ceilings, the replay through ./submit.sh, checked
    export_figure.py  the export figure's steps: the export built and uploaded, ceilings, the import, checked
"""
