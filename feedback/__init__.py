"""What customers tell the office after a trip: ratings, comments and complaints."""
