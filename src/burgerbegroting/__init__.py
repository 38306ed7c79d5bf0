"""Burgerbegroting: participatory budgeting for the social domain of Dutch municipalities."""

__version__ = "0.2.0"
