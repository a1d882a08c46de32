"""Hydro's control plane: the catalog of models, versions, applications and deployment configs, the
build service that turns uploads into images, the REST API and the Catalog watch for router and scaler."""
