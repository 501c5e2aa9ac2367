"""The workspace settings' web face: availability (navbar toggle and REST) and the per-page
auto-assign / CSAT settings. The rules live in ../availability.py and ../assignment.py."""
