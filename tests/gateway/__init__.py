"""The gateway, exercised over real loopback sockets.

Chargers are played by paho-mqtt in the charger's shape (MQTT 3.1.1, no
credentials, client id ``ESP32_1a2b3c``) driven by the test's event loop (no
thread), or by raw sockets where a real client would not misbehave enough.
Home Assistant's MQTT is the harness's mock: ``mqtt_mock.async_publish``
records what is relayed up, ``async_fire_mqtt_message`` plays a command.
"""
