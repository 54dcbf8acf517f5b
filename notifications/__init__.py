"""Texts to customers and drivers: an outbox in the database that RQ jobs send through Twilio."""
