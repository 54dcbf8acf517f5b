"""From booking to drop-off: bookings, their states, and the engine that hands them to drivers."""
