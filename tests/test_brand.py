"""Brand images: the icon and logo Home Assistant shows for the integration.

Home Assistant (2026.3 and later) takes a custom integration's icon and logo from
its ``brand/`` folder, named and sized as in the brands repository. The PNGs are
rendered by scripts/render-brand; these tests hold every rendering to the rules.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.setup import async_setup_component
from PIL import Image
import pytest

from custom_components.novabot.const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

BRAND = (
    Path(__file__).resolve().parent.parent / "custom_components" / "novabot" / "brand"
)

# File name -> side of the square icon, or the shortest side of the landscape logo.
ICONS = {
    "icon.png": 256,
    "icon@2x.png": 512,
    "dark_icon.png": 256,
    "dark_icon@2x.png": 512,
}
LOGOS = {
    "logo.png": 128,
    "logo@2x.png": 256,
    "dark_logo.png": 128,
    "dark_logo@2x.png": 256,
}
BRAND_FILES = [*ICONS, *LOGOS]

# Far above what flat artwork needs once optimised: a file this big was saved
# without optimisation, or has photographic noise no one asked for.
LARGEST_FILE = 64 * 1024


def load(name: str) -> Image.Image:
    """The brand image ``name``, read fully so that the file is closed again."""
    with Image.open(BRAND / name) as image:
        assert image.format == "PNG", f"{name} is {image.format}, not PNG"
        image.load()
        return image


def test_brand_folder_holds_exactly_the_images_home_assistant_serves() -> None:
    # A misspelt name would be ignored without a word, so nothing else may be there.
    assert sorted(BRAND_FILES) == sorted(ALLOWED_IMAGES)
    assert sorted(path.name for path in BRAND.iterdir()) == sorted(BRAND_FILES)


@pytest.mark.parametrize("name", BRAND_FILES)
async def test_home_assistant_serves_the_image_from_the_brand_folder(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, name: str
) -> None:
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()

    response = await client.get(f"/api/brands/integration/{DOMAIN}/{name}")

    assert response.status == HTTPStatus.OK
    assert response.content_type == "image/png"
    assert await response.read() == (BRAND / name).read_bytes()


@pytest.mark.parametrize("name", BRAND_FILES)
def test_brand_image_is_a_png_with_alpha_and_transparent_corners(name: str) -> None:
    image = load(name)

    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    right, bottom = image.width - 1, image.height - 1
    corners = [(0, 0), (right, 0), (0, bottom), (right, bottom)]
    assert [alpha.getpixel(corner) for corner in corners] == [0, 0, 0, 0]


@pytest.mark.parametrize(("name", "side"), ICONS.items())
def test_icon_is_square_at_its_size(name: str, side: int) -> None:
    assert load(name).size == (side, side)


@pytest.mark.parametrize(("name", "shortest"), LOGOS.items())
def test_logo_is_landscape_with_its_shortest_side(name: str, shortest: int) -> None:
    width, height = load(name).size

    assert height == shortest
    assert width > height


@pytest.mark.parametrize("base", ["icon", "logo", "dark_icon", "dark_logo"])
def test_hidpi_image_is_exactly_twice_the_base_size(base: str) -> None:
    width, height = load(f"{base}.png").size

    assert load(f"{base}@2x.png").size == (2 * width, 2 * height)


@pytest.mark.parametrize("name", BRAND_FILES)
def test_brand_image_is_optimised_for_the_web(name: str) -> None:
    assert (BRAND / name).stat().st_size < LARGEST_FILE
