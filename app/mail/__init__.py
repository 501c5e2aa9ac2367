"""Mail: queued durably, sent by RQ jobs through SMTP (embedded server when none is set)."""
