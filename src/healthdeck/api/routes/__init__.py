"""The API's routes, one module per subject; each exports a `router`."""
