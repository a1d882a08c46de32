"""Hydro's autoscaler: decides how many replicas each model version runs and drives a runtime backend.

Routers ask it to `Activate` a version at zero, stream their load to it and watch the ready endpoints it
publishes; the control plane's catalog tells it which versions exist and under which deployment config.
"""
