"""Inbound SMS: keywords, consent changes, replies, double opt-in and the conversation inbox."""
