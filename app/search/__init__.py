"""Search over encrypted messages: a blind index of keyed word hashes (docs/search.md)."""
