"""Entry point of `python -m app.devtools.fakegraph`."""

from app.devtools.fakegraph.cli import main

main()
