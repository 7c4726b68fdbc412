"""The setup dialog, walked in a real browser: what a newcomer does in the demo.

Playwright drives Debian's Chromium (``/usr/bin/chromium``, never a browser
download) in a fresh profile, through the trusted-networks login that the
development instance grants 127.0.0.1. The walk: the *Discovered* card, the
settings form (serial number, WiFi; the broker as suggested; *Pair the radio*
left closed), the gateway explanation with what saving does to the mower, the
progress steps, the success dialog, the new entry with its two devices, the
charger's device page with values, the mower's device page reached from the
charger's, and the mower started and sent home from the lawn mower's dialog
there (the integration's icon is noted as the browser receives it). Each step
can be saved as a screenshot (``shots``): the browser test keeps them with its
results, ``scripts/screenshot`` renews those in ``docs/``.

Home Assistant's frontend nests shadow roots; Playwright's CSS and text
locators pierce them, and :data:`DEEP_TEXT` reads the visible text through
them. What the integration's dialog says comes from its English translation,
as the frontend shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import itertools
import json
from pathlib import Path
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError, async_playwright, expect

from .instance import DevelopmentInstance
from .layout import NEW_SERIAL_NUMBER, ROOT, Layout
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
# Tall enough for a whole device page (the charger's with its connected
# devices, the mower's controls, sensors and events) in one picture.
VIEWPORT = {"width": 1000, "height": 900}
STEP_TIMEOUT = 30.0  # seconds for a page or form to appear
MOWER_TIMEOUT = 60.0  # the simulated mower leaves, or returns and docks
PROVISIONING_TIMEOUT = 150.0  # the whole session and the claim, at demo timings
READY_TIMEOUT = 120.0  # Home Assistant's start and the first charger's values
# What the newcomer types: the serial number from the "label", any WiFi.
SSID = "Garden"
WIFI_PASSWORD = "garden-pass-1"
# What the simulated chargers report (unencrypted, as firmware v0.3.6).
FIRMWARE = "v0.3.6"
# Where the frontend fetches the integration's own brand/ images.
BRAND_IMAGES = "/api/brands/integration/novabot/"

# The integration's dialog texts, as the frontend shows them.
ENGLISH: dict[str, Any] = json.loads(
    (ROOT / "custom_components" / "novabot" / "translations" / "en.json").read_text()
)
STEPS = ENGLISH["config"]["step"]
RADIO_SECTION = STEPS["settings"]["sections"]["radio"]["name"]
GATEWAY_TITLE = STEPS["gateway"]["title"]
# What saving does to the mower: the gateway step says it too.
MOWER_NOTICE = STEPS["confirm"]["description"]


def progress_words(action: str) -> str:
    """What the progress step ``action`` begins with, before any placeholder.

    Taken from the translation, so that a step missing from the walk is
    missing, not merely worded differently.
    """
    text: str = ENGLISH["config"]["progress"][action]
    return re.split(r"[{(.]", text, maxsplit=1)[0].strip()


# What each progress step says, by action, in the order they come.
PROGRESS = {
    action: progress_words(action)
    for action in (
        "connect",
        "set_wifi_info",
        "set_rtk_info",
        "set_lora_info",
        "set_mqtt_info",
        "set_cfg_info",
        "claim",
    )
}
# The progress steps worth a picture: each lasts seconds at demo timings.
PROGRESS_SHOTS = {
    "set_wifi_info": "setup-4-wifi",
    "claim": "setup-5-first-report",
}

# The entities each device page shows, by name.
CHARGER_ENTITIES = (
    "GPS satellites",
    "GPS fix",
    "RTK fix",
    "LoRa address",
    "LoRa channel",
    "LoRa noise",
)
MOWER_DEVICE = "Novabot mower"  # also the lawn mower's name: it is named by its device
MOWER_ENTITIES = (
    "Activity",
    "Battery",
    "Radio link",
    "Stop",
    "Cancel today's schedule",
    "Mowing events",
)
# What the frontend shows for an entity without a value.
NO_VALUE = ("Unknown", "Unavailable")
# The lawn mower states the frontend shows (its own English labels).
MOWER_STATES = ("Docked", "Mowing", "Paused", "Returning", "Error")

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
    """What the walk saw, and how long it took.

    A device page is kept as its cards' lines, by each card's heading
    ("Controls", "Sensors", "Connected devices", ...).
    """

    progress: list[str] = field(default_factory=list)  # actions, in order
    shots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    provisioning_seconds: float = 0.0  # from the gateway step's Submit to success
    instance_seconds: float = 0.0  # until the instance was ready
    entry_devices: list[str] = field(default_factory=list)  # the new entry's
    charger_page: dict[str, list[str]] = field(default_factory=dict)
    mower_page: dict[str, list[str]] = field(default_factory=dict)
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
            await walkthrough.charger_page(NEW_SERIAL_NUMBER)
            await walkthrough.mower_page(NEW_SERIAL_NUMBER)
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
        """Discovered card to success dialog; :meth:`charger_page` goes on from there."""
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
        await self.show_radio_section_closed(dialog)
        await self.shoot("setup-2-settings")

        await self.submit(dialog)
        await dialog.get_by_text(GATEWAY_TITLE).wait_for()
        await dialog.get_by_text(MOWER_NOTICE).wait_for()
        await self.shoot("setup-3-gateway")

        provisioning = time.monotonic()
        await self.submit(dialog)
        await self.follow_progress(dialog)
        self.walk.provisioning_seconds = time.monotonic() - provisioning
        await self.shoot("setup-6-created")
        # Neither device has an area yet: the button says "Skip and finish".
        await dialog.get_by_role("button", name="Finish").click()
        await dialog.wait_for(state="hidden")
        self.walk.seconds = time.monotonic() - started
        return self.walk

    async def show_radio_section_closed(self, dialog: Locator) -> None:
        """Scroll the settings form down to *Pair the radio*, which stays closed.

        Left closed and empty, it leaves the charger's radio pairing alone.
        """
        heading = self.page.get_by_role("heading", name=RADIO_SECTION)
        section = dialog.locator("ha-expansion-panel").filter(has=heading)
        await expect(section).to_have_js_property(
            "expanded", value=False, timeout=STEP_TIMEOUT * 1000
        )
        # Its whole header above the dialog's buttons, the broker fields above it.
        await section.evaluate("section => section.scrollIntoView({block: 'end'})")

    async def charger_page(self, serial_number: str) -> None:
        """From the new entry's devices, the charger's page, once it shows values.

        Finishing the dialog leaves the frontend on the integration's page with
        the new entry open; its devices are listed there.
        """
        started = time.monotonic()
        entry = self.page.locator("ha-config-entry-row").filter(
            has_text=f"Novabot charger {serial_number}"
        )
        devices = entry.locator("ha-config-entry-device-row")
        charger = devices.filter(has_text=f"Novabot charger {serial_number}")
        await charger.wait_for()
        await devices.filter(has_text=MOWER_DEVICE).wait_for()
        self.walk.entry_devices = [
            (await device.evaluate(DEEP_TEXT)).splitlines()[0]
            for device in await devices.all()
        ]
        await self.shoot("setup-7-devices")

        await charger.get_by_text(f"Novabot charger {serial_number}").click()
        self.walk.charger_page = await self.device_page(
            f"Serial number: {serial_number}",
            f"Firmware: {FIRMWARE}",
            *CHARGER_ENTITIES,
            MOWER_DEVICE,  # connected to it
        )
        await self.shoot("device-page")
        self.walk.seconds += time.monotonic() - started

    async def mower_page(self, serial_number: str) -> None:
        """The mower's page, from the charger's connected devices, showing values."""
        started = time.monotonic()
        connected = self.page.locator("ha-card").filter(has_text="Connected devices")
        # Not exact: the list item also says how many entities the mower has.
        await connected.get_by_text(MOWER_DEVICE).click()
        self.walk.mower_page = await self.device_page(
            f"Mower of charger {serial_number}",
            f"Novabot charger {serial_number}",  # connected via
            MOWER_DEVICE,
            *MOWER_ENTITIES,
            valueless=("Mowing events",),
        )
        await self.shoot("mower-page")
        self.walk.seconds += time.monotonic() - started

    async def device_page(
        self, *lines: str, valueless: tuple[str, ...] = ()
    ) -> dict[str, list[str]]:
        """Once the page shows ``lines`` and every entity a value: its cards.

        An entity in ``valueless`` may be Unknown (an event entity before its
        first event). Each card's lines, by its heading; the page is scrolled
        to its top.
        """
        body = self.page.locator("body")
        deadline = time.monotonic() + STEP_TIMEOUT
        shown: list[str] = []
        without_value: list[str] = []
        while time.monotonic() < deadline:
            shown = (await body.evaluate(DEEP_TEXT)).splitlines()
            # An entity's value is the line after its name. The charger's
            # answers to Home Assistant's queries (firmware, LoRa) come a few
            # seconds after its first report.
            without_value = [
                name
                for name, value in itertools.pairwise(shown)
                if value in NO_VALUE and name not in valueless
            ]
            if all(line in shown for line in lines) and not without_value:
                break
            await asyncio.sleep(0.25)
        else:
            missing = [line for line in lines if line not in shown]
            raise TimeoutError(
                f"the device page lacks {missing}, values of {without_value}:\n{shown}"
            )
        # Reached by a click further down the previous page, it may open scrolled.
        await self.page.evaluate("window.scrollTo(0, 0)")
        cards: dict[str, list[str]] = {}
        for card in await self.page.locator("ha-card").all():
            heading, *rest = (await card.evaluate(DEEP_TEXT)).splitlines() or [""]
            cards[heading] = rest
        return cards

    async def command_the_mower(self) -> None:
        """From the mower's page: start the mower, then send it back to its dock.

        Through the lawn mower's own dialog, as an owner would: each press goes
        to the simulated charger, which answers 1 to 4 s later as the firmware
        does, and whose mower changes its work status.
        """
        started = time.monotonic()
        controls = self.page.locator("ha-card").filter(has_text="Controls")
        await controls.get_by_text(MOWER_DEVICE, exact=True).click()
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
        # The pointer rests where the last click was, often over what the next
        # page shows there: in the corner, nothing looks hovered or picked.
        await self.page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)
        await self.page.screenshot(path=path, animations="disabled")
        self.walk.shots.append(path)
