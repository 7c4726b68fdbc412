"""End-to-end tests: real Mosquitto, Home Assistant's real MQTT client, the simulator."""
