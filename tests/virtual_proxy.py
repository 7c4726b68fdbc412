"""Pytest plugin: virtual Bluetooth proxies inside Home Assistant's real Bluetooth.

Registered in ``tests/conftest.py`` (``pytest_plugins``). ``tests/__init__.py``
puts ``dev/`` on ``sys.path``: ``custom_components`` is a namespace package, so
``dev/custom_components/virtual_bluetooth_proxy`` joins the repository's own
``custom_components`` and Home Assistant's loader finds it as a custom
integration.

Fixtures:

* ``virtual_proxy_factory``: ``await virtual_proxy_factory(name, rssi=...)``
  adds a proxy (see ``async_add_proxy``), with the real ``bluetooth``
  integration set up (``enable_bluetooth``: no radio, no D-Bus); every proxy
  is stopped again after the test;
* ``virtual_proxy``: one proxy, ``"Virtual proxy"`` at RSSI -60.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

    from homeassistant.core import HomeAssistant

    from custom_components.virtual_bluetooth_proxy import VirtualProxy

    type ProxyFactory = Callable[..., Awaitable[VirtualProxy]]


@pytest.fixture
async def virtual_proxy_factory(
    hass: HomeAssistant, enable_bluetooth: None
) -> AsyncGenerator[ProxyFactory]:
    """Make proxies; all of them leave Home Assistant after the test."""
    from custom_components.virtual_bluetooth_proxy import (
        async_add_proxy,
        async_stop_proxies,
    )

    async def make(name: str = "Virtual proxy", **options: Any) -> VirtualProxy:
        return await async_add_proxy(hass, name, **options)

    yield make
    await async_stop_proxies(hass)
    await hass.async_block_till_done()


@pytest.fixture
async def virtual_proxy(virtual_proxy_factory: ProxyFactory) -> VirtualProxy:
    """One proxy hearing at RSSI -60."""
    return await virtual_proxy_factory("Virtual proxy", rssi=-60)
