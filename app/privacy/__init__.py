"""Data-subject requests, retention and Meta's data-deletion callback."""
