"""Beam models (machines) and their data files."""
