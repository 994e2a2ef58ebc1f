"""Podman on this machine: engine set-up, locally built images, the compose fleet and its smoke walk."""
