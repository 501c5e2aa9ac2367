"""Cross-cutting pieces: crypto, queues, security, roles, CLI, health."""
