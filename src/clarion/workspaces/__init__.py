"""Workspaces (a brand or business unit) and the API keys that belong to them."""
