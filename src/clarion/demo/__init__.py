"""The demo: a realistic synthetic customer base, deterministic by seed, built step by step."""
