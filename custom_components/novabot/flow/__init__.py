"""The config flow's parts: the Bluetooth session, the broker choice, the forms.

``config_flow`` (at the package root, where Home Assistant looks for it) is the
flow Home Assistant registers; it is built from these modules, which ask, check
and listen for it and import nothing from the runtime but the coordinator's
hand-over of the first report.
"""
