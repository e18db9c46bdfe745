"""`make eval`: the llm and offline brains on the same sites, scored against truth files."""
