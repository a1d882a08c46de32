"""A Terraform provider for Hydro (source address `hydro/hydro`, plugin protocol 6), written in Python.

Installed with the project as the console script `terraform-provider-hydro`; Terraform finds it through
a CLI configuration `dev_overrides` block that maps `hydro/hydro` to the folder holding the script.
It is a client of the control plane's REST API (through the SDK, `hydro.client`), like the CLI.
"""
