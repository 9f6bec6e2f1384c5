"""Subcommands of `dse`: each module here defines `register(subparsers)`.

`dse.cli` discovers the modules, so adding a command means adding a module, nothing else.
A command's handler takes the parsed arguments and returns an exit status.
"""
