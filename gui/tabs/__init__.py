"""The other tabs: Generate, Compare, History, Analysis."""
