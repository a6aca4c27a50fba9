"""The ``rtplan`` command line: one module per subcommand, parsing and printing only.

``main`` builds the parser and runs a subcommand; each subcommand module (``info``,
``dose``, ``dvh``, ``gamma``, ``trajectory``, ``overlay``, ``report``, ``demo``) declares its
arguments and calls the library. Subcommands never import each other: what they share is
in ``_parsing`` (how a subcommand is declared, the parent parsers of the study and
verbosity options, argument types) and ``_common`` (checks of inputs and outputs, lookups
in a study, atomic writing).
"""
