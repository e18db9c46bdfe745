"""The llm brain: chat models per role, fenced untrusted content, metered calls."""
