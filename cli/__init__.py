"""The `flotilla` command: arguments, progress lines, output and exit codes."""
