"""Prosemix GUI (PySide6). Data flows one way: gui -> engine."""
