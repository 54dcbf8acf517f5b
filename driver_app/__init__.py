"""The driver's own edge: the mobile page, its login by number and PIN, and its live channel."""
