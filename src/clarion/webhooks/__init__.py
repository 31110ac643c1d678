"""Status webhooks: signed deliveries of message status changes to the customer systems."""
