"""Home dashboard."""
