"""The gateway's limits.

A charger holds one connection, publishes a ~250-byte report every ~2 s and
answers a rare command: every limit below is far above that. The gateway reads
them as ``limits.NAME`` when it needs them, so a test can change them here.
"""

MAX_CLIENTS = 8
MAX_PACKET_SIZE = 4096  # whole MQTT packet, header included
RATE_LIMIT = 20.0  # packets per second per client, sustained
RATE_BURST = 10  # packets a client may send at once
MAX_VIOLATIONS = 20  # dropped packets before the client is disconnected
CONNECT_TIMEOUT = 10.0  # seconds from TCP accept to a complete CONNECT
REFUSE_TIMEOUT = 2.0  # seconds to wait for a refused client's CONNECT
KEEPALIVE_GRACE = 1.5  # MQTT-3.1.2-24: disconnect after 1.5 x keep-alive
MAX_UPLINK_IN_FLIGHT = 64  # publishes waiting on Home Assistant's MQTT
CLOSE_TIMEOUT = 1.0  # seconds to flush a closing socket before aborting it
STOP_TIMEOUT = 5.0  # seconds for sessions to end before their tasks are cancelled
