"""Copy DynamoDB tables into ScyllaDB Alternator (or DynamoDB) with Apache Spark."""

__version__ = "0.1.0"
