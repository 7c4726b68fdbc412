"""The Novabot charger integration."""
