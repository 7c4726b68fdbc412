"""The parts of scripts/develop, shared with the tests that need the same set-up.

* ``layout``: where everything lives (directories, ports, the demo's chargers);
* ``mosquitto``: Mosquitto configured like the Home Assistant add-on (the
  tests' brokers come from the same class);
* ``first_run``: the configuration a first run writes (YAML and storage);
* ``processes``: the child processes, started and stopped together;
* ``hass_api``: Home Assistant's REST and websocket API, as far as needed;
* ``chargers``: simulated chargers reporting where they were told to;
* ``instance``: all of it together, a development instance of Home Assistant;
* ``walkthrough``: the setup dialog walked in a real browser (Playwright).

``dev/`` must be on ``sys.path`` (scripts/develop and ``tests/__init__.py``
put it there).
"""
