"""DynamoDB exports to S3, read as a source: the manifests and the data files DynamoDB writes.

    manifest.py   manifest-summary.json and manifest-files.json, checked: format, type, counts
    data_file.py  one data file (gzip of DynamoDB JSON lines) -> pages of raw items, its MD5 and count checked
"""
