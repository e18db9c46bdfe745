"""Runnable examples of Flotilla inside other frameworks."""
