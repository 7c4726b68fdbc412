"""What importing the integration costs: amqtt only where a gateway runs."""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent


def imported_after(*modules: str, path: Path = ROOT) -> set[str]:
    """The modules loaded once ``modules`` are imported, in a fresh interpreter."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(path)!r})\n"
        + "".join(f"import {module}\n" for module in modules)
        + "print('\\n'.join(sys.modules))\n"
    )
    run = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in run.stdout.split()} | set(run.stdout.split())


def test_direct_mode_never_imports_amqtt() -> None:
    """What Home Assistant imports for an entry in direct mode: no broker library."""
    loaded = imported_after(
        "custom_components.novabot",
        "custom_components.novabot.config_flow",
        "custom_components.novabot.sensor",
        "custom_components.novabot.binary_sensor",
        "custom_components.novabot.lawn_mower",
        "custom_components.novabot.button",
        "custom_components.novabot.event",
        "custom_components.novabot.diagnostics",
    )

    assert "custom_components.novabot.gateway" in loaded  # its API, not its broker
    assert "amqtt" not in loaded


def test_the_protocol_library_stands_without_home_assistant() -> None:
    """The library could be published on its own (the simulator loads it so)."""
    loaded = imported_after("protocol", path=ROOT / "custom_components" / "novabot")

    assert "protocol.provision" in loaded
    assert "homeassistant" not in loaded
