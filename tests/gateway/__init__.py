"""The gateway, exercised over real loopback sockets.

Chargers are played by paho-mqtt in the charger's shape (MQTT 3.1.1, no
credentials unless a test gives a login, client id ``ESP32_1a2b3c``) driven by
the test's event loop (no thread), or by raw sockets where a real client would
not misbehave enough. The gateway listens on loopback only: a gateway entry's
options say so (``settings_entry``).
Home Assistant's MQTT is the harness's mock: ``mqtt_mock.async_publish``
records what is relayed up, ``async_fire_mqtt_message`` plays a command.
"""
