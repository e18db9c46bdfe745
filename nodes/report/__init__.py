"""Reporting: the report node and the llm brain's short-answer writer."""
