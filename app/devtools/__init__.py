"""Developer tools: local fakes that let the app run and be tested without Meta."""
