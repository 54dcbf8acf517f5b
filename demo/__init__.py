"""Demo data: a believable Tehran radio-taxi office, generated from a fixed seed."""
