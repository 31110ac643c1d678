"""The send API: one message (or a batch) to a contact or an address, now or later."""
