"""The Twilio edge: webhooks, TwiML and the REST client."""
