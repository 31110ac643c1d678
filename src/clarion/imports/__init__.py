"""Imports with cleaning: contacts (and, through the same pipeline, events and orders)."""
