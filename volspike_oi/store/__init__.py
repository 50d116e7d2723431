"""Postgres, the only store: schema and migrations, the embedded server, batched writes."""
