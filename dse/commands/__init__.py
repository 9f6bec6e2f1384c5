"""Subcommands of `dse`: each module here defines `register(subparsers)`.

`dse.cli` discovers the modules, so adding a command means adding a module, nothing else.
A command's handler takes the parsed arguments and returns an exit status.
"""


def add_set_option(parser, required: bool = False) -> None:
    """The `--set PATH=VALUE` option (repeatable) of the commands that take a sweep file."""
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        required=required,
        help="override an entry of the sweep file, e.g. hardware.node_nm=7nm (repeatable)",
    )


def add_json_option(parser) -> None:
    """The `--json` flag every table-printing command takes: one JSON document on stdout."""
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def help_of(parser):
    """The handler of a command given no action: print its help, exit status 0."""

    def handler(args) -> int:
        parser.print_help()
        return 0

    return handler
