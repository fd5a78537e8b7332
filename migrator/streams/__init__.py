"""Live replication: a DynamoDB Stream replayed into the target after the snapshot, in rounds of Spark tasks.

    shards.py   the shards' lineage and checkpoint (driver), and what a round's task gets and returns per shard
    setup.py    the source's stream made ready before the snapshot: reused or enabled, replay's start recorded
    reader.py   GetShardIterator and GetRecords, raw (executor)
    changes.py  stream records -> the newest change per key, as raw put items and delete keys (executor)
    replay.py   one round's task: read its shards, write their changes, report the acknowledged positions
The rounds themselves are run by jobs/replicate.py.
"""
