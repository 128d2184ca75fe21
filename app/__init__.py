"""Aurascope: listen to the features a convolutional network has learned from music."""

__version__ = "0.1.0"
