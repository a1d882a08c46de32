"""Terraform for Hydro: the provider (`terraform.provider`, the console script `terraform-provider-hydro`)
and example root modules (`terraform/examples/`)."""
