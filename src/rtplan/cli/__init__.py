"""The ``rtplan`` command line: one module per subcommand, parsing only."""
