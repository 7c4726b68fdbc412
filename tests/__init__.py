"""Tests for the Novabot integration."""
