"""Email over SMTP: the message document, the channel, and bounce matching by Message-ID."""
