"""Local DynamoDB-compatible servers and deterministic sample data for tests and demos."""
