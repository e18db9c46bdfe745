"""Flotilla inside other agent frameworks."""
