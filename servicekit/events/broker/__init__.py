"""Brokers side by side (the way dramatiq keeps brokers/{rabbitmq,redis,stub}.py): the
publisher protocol (`base`), the kombu topology, the kombu publisher and the in-memory stub."""
