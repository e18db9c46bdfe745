"""Memory: the embedded Redis, the Redis checkpointer and long-term insights."""
