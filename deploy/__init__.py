"""Deployment: the container entry points and the generator of docker-compose.yml and k8s/."""
