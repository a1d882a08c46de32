# A canary release of the `scorer` model: 90% of the traffic to the stable version, 10% to the canary,
# on a small scale-to-zero deployment config, with hourly drift monitoring of the stable version and an
# invoke key for the client. See README.md.

terraform {
  required_providers {
    hydro = {
      source = "hydro/hydro"
    }
  }
}

# `endpoint` and `token` fall back to HYDRO_CONTROL_PLANE_URL and HYDRO_TOKEN.
provider "hydro" {}

variable "application" {
  description = "The application's name: its invoke URLs end in it."
  type        = string
  default     = "scoring"
}

resource "hydro_deployment_config" "small" {
  name                  = "small"
  min_replicas          = 0
  max_replicas          = 2
  container_concurrency = 8
  scale_to_zero_grace_s = 30
}

# Each folder is one immutable model version, keyed on the hash of its files: editing any file plans a
# new version, and the application below moves to it in place. A new version is built before the old
# one is deleted, since the platform refuses to delete a version an application still routes to.
resource "hydro_model_version" "stable" {
  source = "${path.module}/models/stable"

  lifecycle {
    create_before_destroy = true
  }
}

resource "hydro_model_version" "canary" {
  source = "${path.module}/models/canary"

  lifecycle {
    create_before_destroy = true
  }
}

resource "hydro_application" "scoring" {
  name               = var.application
  sampling_rate      = 1.0
  require_invoke_key = true

  stage {
    variant {
      model             = hydro_model_version.stable.model
      version           = hydro_model_version.stable.version
      weight            = 90
      deployment_config = hydro_deployment_config.small.name
    }
    variant {
      model             = hydro_model_version.canary.model
      version           = hydro_model_version.canary.version
      weight            = 10
      deployment_config = hydro_deployment_config.small.name
    }
  }
}

resource "hydro_monitoring" "stable" {
  model   = hydro_model_version.stable.model
  version = hydro_model_version.stable.version
  cron    = "0 * * * *"
  window  = "1h"
}

resource "hydro_invoke_key" "client" {
  application = hydro_application.scoring.name
  name        = "client"
}
