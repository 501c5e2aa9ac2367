"""Conversations between a Page and a contact, and their messages."""
