"""HashiCorp's plugin protocol (the part the provider serves) and go-plugin's control service: the
`.proto` sources and their generated code (`python -m protos.generate`). Kept with the provider, not in
`protos/`, which ships inside every model image."""
