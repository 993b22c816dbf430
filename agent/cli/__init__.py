"""The ``moi`` command line: JSON on stdout, one line on stderr and a non-zero exit on error."""
