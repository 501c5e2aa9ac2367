"""Media: attachment files (inbound, fetched once from Meta's CDN; outbound, uploaded by agents),
stored encrypted under `instance/media/` and served only to people who may read the conversation."""
