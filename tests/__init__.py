"""Tests for the Novabot integration.

``dev/`` joins ``sys.path`` here, before any test module or plugin is imported:
it holds what the tests share with scripts/develop (``novabot_dev``: Mosquitto
set-up, the development instance) and the virtual Bluetooth proxy, which joins
the repository's ``custom_components`` namespace package as a custom
integration Home Assistant's loader finds.
"""

from pathlib import Path
import sys

DEV = str(Path(__file__).resolve().parent.parent / "dev")
if DEV not in sys.path:
    sys.path.append(DEV)
