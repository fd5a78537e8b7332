"""DynamoDB exports to S3, as a source (an export imported into a table) and as a target (a table written as one).

    manifest.py     manifest-summary.json and manifest-files.json: checked when read (format, type, counts), and
                    written by the target
    data_file.py    one data file (gzip of DynamoDB JSON lines) -> pages of raw items, its MD5 and count checked
    incremental.py  an incremental export's change lines -> the newest change per key (readers/source.Changes)
    bucket.py       the export's bucket as the source names it: region, endpoint, credentials, path style
    export_source.py  source type dynamodb-s3-export: the manifests, the data files as units (skipFiles)
    output.py       where an export is written: a local directory or s3://bucket/prefix, files whole or absent
    export_sink.py  target type dynamodb-s3-export: data files per unit, then the manifests
"""
