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
