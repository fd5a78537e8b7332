"""The migrator's benchmark: `./build.sh bench [--items N | --scaling]`, see `python -m tests.bench --help`.

Two dynalite servers on 127.0.0.1 play the source DynamoDB and the target Alternator. One run measures the
target's ingest ceiling, the source's scan ceiling, the migrator through ./submit.sh, and a plain boto3 copy,
then prints a table and writes every figure to bench-output/bench-<items>.json.

    workload.py       the items (pre-serialized BatchWriteItem bodies), tables, exact counts
    ceilings.py       load generators: ingest (BatchWriteItem) and parallel Scan ceilings
    process_stats.py  CPU and RSS of a process tree, sampled from /proc
    spark_job.py      one ./submit.sh run: wall and job time, first write, CPU, RSS, verification
    plain_copy.py     the boto3 copy a user would otherwise write
    report.py         the table, the goals and the JSON file
"""
