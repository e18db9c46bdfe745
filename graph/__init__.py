"""The graph: typed state, the Context form, the findings models and the builder."""
