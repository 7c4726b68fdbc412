"""scripts/soak: a week of faults in a few minutes, and what they cost.

The parts, along a run:

* ``instance``: the development instance a soak runs (``scripts/develop``'s
  parts: Mosquitto like the add-on, a real ``hass`` with the recorder on
  SQLite, the integration in gateway mode on 127.0.0.1), its two chargers
  (firmware v0.3.6, and v0.4.0 encrypting), Mosquitto and Home Assistant
  restarted on demand;
* ``chargers``: each charger a ``scripts/simulate-charger --control`` process,
  told its faults on stdin, telling every report it sent on stdout;
* ``expected``: what Home Assistant should show after a report;
* ``hass_socket``: Home Assistant's websocket API, one connection for all;
* ``commands``: mower commands at random moments, and what came of each;
* ``faults``: the faults and how each is played;
* ``measure``: fresh values, the recorder's database, the integration's own
  counters, memory, tasks and timers, the log;
* ``report``: the table, the targets and the final JSON line;
* ``run``: the schedule, from the seed, and the run itself.
"""
