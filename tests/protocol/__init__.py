"""Tests of the charger protocol library (no Home Assistant needed)."""
