"""SMPP 3.4: our own codec, an asyncio ESME client (connectors) and an SMSC simulator."""
