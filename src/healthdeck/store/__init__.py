"""The event store: schema, validated ingest, deduplication; DuckDB by default."""
