"""The setup dialog, walked in a real browser: what a newcomer does in the demo.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, never a browser
download) in a fresh profile, through the trusted-networks login that the
development instance grants 127.0.0.1. The walk: the *Discovered* card, the
settings form (serial number, WiFi; the broker as suggested), the gateway
explanation, the progress steps, the success dialog, the new charger's device
page with values, and its mower started and sent home from the mower's dialog
(the integration's icon is noted as the browser receives it). Each step can be saved as a screenshot (``shots``): the
browser test keeps them with its results, ``scripts/screenshot`` renews those
in ``docs/``.

Home Assistant's frontend nests shadow roots; Playwright's CSS and text
locators pierce them, and :data:`DEEP_TEXT` reads the visible text through
them.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError, async_playwright

from .instance import DevelopmentInstance
from .layout import NEW_SERIAL_NUMBER, Layout
from .mosquitto import free_port

if TYPE_CHECKING:
    from playwright.async_api import (
        BrowserContext,
        Locator,
        Page,
        Playwright,
        Response,
    )

# Debian's Chromium; on a GitHub runner (Ubuntu, where chromium is a snap) the
# Google Chrome the runner image ships.
BROWSERS = ("/usr/bin/chromium", "/usr/bin/google-chrome")
CHROMIUM = next((path for path in BROWSERS if Path(path).exists()), BROWSERS[0])
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    # Nothing but 127.0.0.1: every host name fails to resolve (the frontend
    # asks a CDN for other integrations' logos).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1000, "height": 800}
STEP_TIMEOUT = 30.0  # seconds for a page or form to appear
MOWER_TIMEOUT = 60.0  # the simulated mower leaves, or returns and docks
PROVISIONING_TIMEOUT = 150.0  # the whole session and the claim, at demo timings
READY_TIMEOUT = 120.0  # Home Assistant's start and the first charger's values
# What the newcomer types: the serial number from the "label", any WiFi.
SSID = "Garden"
WIFI_PASSWORD = "garden-pass-1"
# Where the frontend fetches the integration's own brand/ images.
BRAND_IMAGES = "/api/brands/integration/novabot/"
# The device page has rendered the charger's entities once these show.
ENTITY_NAMES = ["GPS satellites", "RTK fix"]

# What each progress step says (the integration's strings.json), by action.
PROGRESS = {
    "connect": "Connecting to the charger over Bluetooth",
    "set_wifi_info": "Sending the WiFi settings",
    "set_rtk_info": "Starting the GPS/RTK receiver",
    "set_lora_info": "Choosing a radio channel",
    "set_mqtt_info": "Sending the broker address",
    "set_cfg_info": "Saving the settings",
    "claim": "Waiting for the charger's first report",
}
# The lawn mower states the frontend shows (its own English labels).
MOWER_STATES = ("Docked", "Mowing", "Paused", "Returning", "Error")
# The progress steps worth a picture: each lasts seconds at demo timings.
PROGRESS_SHOTS = {
    "set_wifi_info": "setup-4-wifi",
    "set_lora_info": "setup-5-radio",
    "claim": "setup-6-first-report",
}

# The visible text under a node, through every shadow root.
DEEP_TEXT = """
(root) => {
  const parts = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent.trim());
      else if (!["STYLE", "SCRIPT", "TEMPLATE"].includes(child.nodeName)) walk(child);
    }
  };
  walk(root);
  return parts.filter(Boolean).join("\\n");
}
"""


@dataclass(slots=True)
class Walk:
    """What the walk saw, and how long it took."""

    progress: list[str] = field(default_factory=list)  # actions, in order
    shots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    provisioning_seconds: float = 0.0  # from the gateway step's Submit to success
    instance_seconds: float = 0.0  # until the instance was ready
    mower_states: list[str] = field(default_factory=list)  # as the dialog showed
    # The integration's brand images the browser received, by file name.
    brand_images: dict[str, bytes] = field(default_factory=dict)


async def walk_a_fresh_instance(
    directory: Path, shots: Path | None, *, mqtt_port: int | None = None
) -> Walk:
    """A new development instance in ``directory``, walked from discovery to the mower.

    Home Assistant takes a free port, Mosquitto ``mqtt_port`` (the form shows
    it) or a free one; the gateway takes port 1885 (the setup dialog's
    default), which must be free. Everything is stopped again afterwards; on
    failure ``failure.png`` in ``shots`` shows the page.
    """
    started = time.monotonic()
    layout = Layout(
        config=directory / "config",
        state=directory / "state",
        http_port=free_port(),
        mqtt_port=mqtt_port or free_port(),
    )
    async with (
        DevelopmentInstance(layout, console=False) as instance,
        async_playwright() as playwright,
    ):
        await asyncio.wait_for(instance.until_ready(started), READY_TIMEOUT)
        ready = time.monotonic() - started
        context = await launch(playwright, directory / "chromium")
        walkthrough = Walkthrough(context.pages[0], layout.url, shots)
        try:
            walk = await walkthrough.run(NEW_SERIAL_NUMBER, SSID, WIFI_PASSWORD)
            path = await instance.api.device_path(NEW_SERIAL_NUMBER)
            assert path is not None, "the new charger has no device"
            await walkthrough.device_page(path, ENTITY_NAMES)
            await walkthrough.command_the_mower()
        except BaseException:
            with contextlib.suppress(PlaywrightError):
                await walkthrough.shoot("failure")
            raise
        finally:
            await context.close()
    walk.instance_seconds = ready
    return walk


async def launch(playwright: Playwright, profile: Path) -> BrowserContext:
    """Debian's Chromium, headless, in the fresh profile directory ``profile``."""
    return await playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_FLAGS,
        headless=True,
        viewport=VIEWPORT,  # type: ignore[arg-type]
    )


class Walkthrough:
    """One walk through the setup dialog on ``page``; screenshots into ``shots``."""

    def __init__(self, page: Page, url: str, shots: Path | None) -> None:
        self.page = page
        self.url = url
        self.shots = shots
        self.walk = Walk()
        page.set_default_timeout(STEP_TIMEOUT * 1000)
        page.on("response", self.note_brand_image)

    async def run(self, serial_number: str, ssid: str, password: str) -> Walk:
        """Discovered card to success dialog; the device page is :meth:`device_page`."""
        started = time.monotonic()
        page = self.page
        await page.goto(f"{self.url}/config/integrations/dashboard")
        card = page.locator("ha-config-flow-card").filter(has_text="Novabot charger")
        await card.wait_for()
        await self.shoot("setup-1-discovered")

        await card.get_by_role("button", name="Add").click()
        dialog = page.locator("dialog-data-entry-flow")
        await dialog.locator("input[name=serial_number]").fill(serial_number)
        await dialog.locator("input[name=ssid]").fill(ssid)
        await dialog.locator("input[name=password]").fill(password)
        await self.shoot("setup-2-settings")

        await self.submit(dialog)
        await dialog.get_by_text("Home Assistant will let the charger in").wait_for()
        await self.shoot("setup-3-gateway")

        provisioning = time.monotonic()
        await self.submit(dialog)
        await self.follow_progress(dialog)
        self.walk.provisioning_seconds = time.monotonic() - provisioning
        await self.shoot("setup-7-created")
        await dialog.get_by_role("button", name="Finish").click()
        await dialog.wait_for(state="hidden")
        self.walk.seconds = time.monotonic() - started
        return self.walk

    async def device_page(self, path: str, entity_names: list[str]) -> None:
        """The device page at ``path``, once it shows ``entity_names``, available."""
        started = time.monotonic()
        await self.page.goto(f"{self.url}{path}")
        # A fresh browser logs in first: wait for the page itself.
        await self.page.get_by_text(entity_names[0]).first.wait_for()
        body = self.page.locator("body")
        text = ""
        while time.monotonic() - started < STEP_TIMEOUT:
            text = await body.evaluate(DEEP_TEXT)
            shown = all(name in text for name in entity_names)
            # Values arrive with the first report; a reading the charger has
            # not given yet may stay Unknown.
            if shown and "Unavailable" not in text.splitlines():
                break
            await asyncio.sleep(0.25)
        else:
            raise TimeoutError(f"the device page shows no values:\n{text[:2000]}")
        await asyncio.sleep(1.0)  # the cards finish their transitions
        await self.shoot("device-page")
        self.walk.seconds += time.monotonic() - started

    async def command_the_mower(self) -> None:
        """From the device page: start the mower, then send it back to its dock.

        Through the lawn mower's own dialog, as an owner would: each press goes
        to the simulated charger, whose mower changes its work status.
        """
        started = time.monotonic()
        controls = self.page.locator("ha-card").filter(has_text="Controls")
        await controls.get_by_text("Mower", exact=True).click()
        dialog = self.page.locator("ha-more-info-dialog")
        await self.follow_mower(dialog, "Docked")
        await dialog.get_by_role("button", name="Start mowing").click()
        await self.follow_mower(dialog, "Mowing")
        await self.shoot("mower-mowing")
        await dialog.get_by_role("button", name="Return to dock").click()
        await self.follow_mower(dialog, "Docked")
        self.walk.seconds += time.monotonic() - started

    async def follow_mower(self, dialog: Locator, awaited: str) -> None:
        """Note each state the mower's dialog shows, until it shows ``awaited``."""
        deadline = time.monotonic() + MOWER_TIMEOUT
        states = self.walk.mower_states
        while not states or states[-1] != awaited:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the mower never showed {awaited}: {states}")
            lines = (await dialog.evaluate(DEEP_TEXT)).splitlines()
            shown = next((line for line in lines if line in MOWER_STATES), None)
            if shown is not None and (not states or states[-1] != shown):
                states.append(shown)
            await asyncio.sleep(0.1)

    async def note_brand_image(self, response: Response) -> None:
        """Keep what Home Assistant served as the integration's icon or logo."""
        path = urlsplit(response.url).path
        if path.startswith(BRAND_IMAGES) and response.ok:
            with contextlib.suppress(PlaywrightError):  # the page moved on
                body = await response.body()
                self.walk.brand_images[path.removeprefix(BRAND_IMAGES)] = body

    async def submit(self, dialog: Locator) -> None:
        """Press the dialog's Submit button."""
        await dialog.get_by_role("button", name="Submit").click()

    async def follow_progress(self, dialog: Locator) -> None:
        """Note each progress step as it shows, until the success dialog."""
        finish = dialog.get_by_role("button", name="Finish")
        deadline = time.monotonic() + PROVISIONING_TIMEOUT
        while not await finish.is_visible():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no success after {self.walk.progress}")
            text = await dialog.evaluate(DEEP_TEXT)
            for action, words in PROGRESS.items():
                if words in text and action not in self.walk.progress:
                    self.walk.progress.append(action)
                    if action in PROGRESS_SHOTS:
                        await self.shoot(PROGRESS_SHOTS[action])
            await asyncio.sleep(0.1)

    async def shoot(self, name: str) -> None:
        """A PNG of the page as it is now, if screenshots are wanted."""
        if self.shots is None:
            return
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=path, animations="disabled")
        self.walk.shots.append(path)
