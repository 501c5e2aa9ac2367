"""Foundations every domain builds on: request context and actors, crypto, Redis and RQ queues,
the schedule and its scheduler, roles, DomainError, base models. Imports no other app package."""
