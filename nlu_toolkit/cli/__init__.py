"""The ``nlu`` command line: one module per command, all thin layers over the library."""
