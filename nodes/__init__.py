"""The graph's nodes, one package per role, and the helpers every role shares."""
