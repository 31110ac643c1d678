"""Audit log: who changed what, when, on which object."""
