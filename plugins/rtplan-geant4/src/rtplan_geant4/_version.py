"""Version of rtplan-geant4."""

__version__ = "0.1.0"
