"""What customers are worth to the office: the value pyramid and the loyalty rule."""
