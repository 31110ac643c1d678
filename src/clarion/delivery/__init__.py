"""Delivery: the outbox, routes and failover, the dispatcher, receipts, worker leases, metrics."""
