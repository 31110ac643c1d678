"""Channels: the transports that carry a message to a person (SMPP, HTTP providers, e-mail)."""
