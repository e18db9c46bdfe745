"""Model plumbing for the llm brain: chat models per role, usage metering, fences."""
