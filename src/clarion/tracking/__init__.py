"""Short links, clicks, conversions and attribution (see docs/tracking.md)."""
