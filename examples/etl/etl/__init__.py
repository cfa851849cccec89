"""Helpers for the weather-stations pipeline: reading exports, cleaning rows, small statistics."""
