"""Analysis: the analyst node, the workbench both brains share, and each brain's policy."""
