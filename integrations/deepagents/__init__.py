"""Flotilla for Deep Agents: a sandbox backend and the browser as a subagent."""
