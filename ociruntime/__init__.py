"""dunnage-runtime: dunnage's runtime behind runc's command line, for podman, containerd,
CRI-O and dockerd (`--runtime`).  A bundle's config.json is mapped onto the runtime's own
typed spec (core/runtime/bundle.py) and run by the same namespace, mount, capability,
seccomp and cgroup code as dunnage's containers (core/runtime/, core/cgroups/); this
package holds the containers' state directory and one module per verb."""
