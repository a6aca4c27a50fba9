"""Photon dose engines."""
