"""The Twilio REST adapter, below every edge and engine."""
