"""Facebook Messenger integration: Graph API client and helpers."""
