"""The daemon: its assembly from configuration, the oslo.service
wrapper, systemd notification, heartbeats and reports.
"""
