"""Browsing: the subagent node, the sandbox both brains share, and each brain's policy."""
