"""Phone calls with the desk: every one kept, answered or not."""
