"""Fixtures for the search tests: the webhook tests' signed posts run through the real worker."""

from __future__ import annotations

from tests.webhooks.conftest import deliver, post_webhook

__all__ = ["deliver", "post_webhook"]
