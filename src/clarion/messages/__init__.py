"""Message text: GSM-7/UCS-2 encoding and parts, templates and their rendering."""
