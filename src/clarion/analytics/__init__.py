"""Campaign statistics, reports, charts, exports and route health (see docs/reports.md)."""
