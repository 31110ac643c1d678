"""HTTP SMS providers and gateways, one module per provider (see clarion.channels.registry)."""
