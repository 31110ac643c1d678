"""Consent: an append-only ledger per contact, channel and purpose, and its derived state."""
