"""People who message a Page (identified by their page-scoped id, PSID)."""
