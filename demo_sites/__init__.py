"""Three fictional vendor sites, rendered by JavaScript, served on loopback for the demo."""
