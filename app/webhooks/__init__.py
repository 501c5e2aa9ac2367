"""Messenger webhook: verify, store durably, process in jobs."""
