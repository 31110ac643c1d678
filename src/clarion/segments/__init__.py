"""Segments: a rule language compiled to one SQL statement, with counts, previews and snapshots."""
