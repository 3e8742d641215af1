"""The anchors list, its saved state and the New anchor training task."""
