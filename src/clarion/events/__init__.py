"""Events and orders: identify/track ingestion, the event store, orders, the catalogue."""
