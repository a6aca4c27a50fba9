"""Generators of rtplan's data files; development tools, not part of the installed package.

Run them from the repository root with ``python -m tools.<package>.<module>``.
"""
