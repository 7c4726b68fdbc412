"""The integration's action: start mowing with an area and a cutting height.

``lawn_mower.start_mowing`` mows what the entry's options say; this action
picks both for one run. The mower reports neither back through its charger,
so they are not settings kept in entities: each run says what it wants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.lawn_mower.const import DOMAIN as LAWN_MOWER_DOMAIN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, service
import probatio

from .const import DOMAIN

if TYPE_CHECKING:
    from homeassistant.helpers.typing import VolDictType

SERVICE_START_MOWING = "start_mowing"
ATTR_AREA = "area"
ATTR_CUTTING_HEIGHT = "cutting_height"

# Types only: the values are checked by the mower entity, whose errors are
# translated (a schema's are not).
START_MOWING_SCHEMA: VolDictType = {
    probatio.Optional(ATTR_AREA): probatio.All(cv.ensure_list, [cv.string]),
    probatio.Optional(ATTR_CUTTING_HEIGHT): probatio.Coerce(float),
}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register ``novabot.start_mowing`` on the integration's lawn mowers."""
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_START_MOWING,
        entity_domain=LAWN_MOWER_DOMAIN,
        schema=START_MOWING_SCHEMA,
        func="async_start_mowing_with",
    )
