"""Agent workspace web face: canned replies grid and picker, private notes (views and REST)."""
