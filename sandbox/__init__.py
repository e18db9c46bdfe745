"""Sandboxes: the egress policy, jailed browsers and the code-interpreter tiers."""
