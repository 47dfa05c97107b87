"""Helpers for the course notebooks."""
