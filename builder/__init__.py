"""dunnage build: Dockerfiles into images, on dunnage's own runtime and union filesystem.

A front over the engine (it makes containers and images through dunnage.core, as the
command line does); the engine imports nothing of it."""
