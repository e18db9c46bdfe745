"""Planning: the coordinator node, the rules every plan passes, and the llm brain's planner."""
