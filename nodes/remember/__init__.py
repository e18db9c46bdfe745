"""The remember role: key insights of a run into long-term memory."""
