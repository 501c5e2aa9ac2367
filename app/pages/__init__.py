"""Connected Facebook Pages and their (encrypted) access tokens."""
