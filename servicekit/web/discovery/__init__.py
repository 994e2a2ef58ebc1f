"""Finding a service's instances: static, DNS or ZooKeeper registries, and balancing over them."""
