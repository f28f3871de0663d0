"""Connections to the platforms a shop sells on; one package per platform."""
