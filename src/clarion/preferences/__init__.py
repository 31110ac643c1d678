"""Signed per-contact preference links and the server-rendered preference page."""
