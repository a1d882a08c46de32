output "invoke_urls" {
  description = "Where the application answers: `http` (plain JSON form), `v2` (Open Inference Protocol JSON) and `grpc` (Open Inference Protocol gRPC, model name = the application)."
  value       = hydro_application.scoring.invoke_urls
}

output "application" {
  description = "The application's name (the gRPC model_name)."
  value       = hydro_application.scoring.name
}

output "invoke_key" {
  description = "Send as `Authorization: Bearer <key>`: the application requires it."
  value       = hydro_invoke_key.client.key
  sensitive   = true
}

output "versions" {
  description = "The versions the application routes to, as model:N."
  value = {
    stable = "${hydro_model_version.stable.model}:${hydro_model_version.stable.version}"
    canary = "${hydro_model_version.canary.model}:${hydro_model_version.canary.version}"
  }
}
