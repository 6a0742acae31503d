"""dunnage compose: the Compose Specification, as Docker Compose v2 behaves.

A front over the engine: the model (load, interpolate, merge, validate) and the verbs
that turn it into containers, networks and volumes through dunnage.core."""
