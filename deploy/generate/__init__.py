"""docker-compose.yml and k8s/ written from the code: `python -m deploy.generate [--check]`.

The fleet is the Procfile (a process per container/Deployment), the port map
(servicekit/web/ports.py) and the settings modules (one service, one database, one migrate step per
Django project). A new extracted service or process needs its Procfile line (and port), then
rerun this; tests/infra checks the result against the code independently.

fleet.py reads what exists; compose.py, prometheus.py, k8s.py (with k8s_network.py and
k8s_dev.py) turn it into documents; output.py renders every file and writes or checks it.
"""
