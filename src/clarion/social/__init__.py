"""Social: accounts on social platforms, posts, and what people do there (issue #11)."""
