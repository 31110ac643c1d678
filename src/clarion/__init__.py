"""Clarion: self-hosted SMS and social-media marketing."""

__version__ = "0.1.0"
