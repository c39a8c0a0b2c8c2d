"""Placeholder until the runtime commands (resolve, embed) land."""

COMMANDS: list = []
