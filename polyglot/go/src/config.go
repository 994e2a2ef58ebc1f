// Settings from the environment, read once at start-up (the same names for every implementation).
package main

import (
	"fmt"
	"os"
	"strconv"
)

type config struct {
	host, databaseURL, brokerURL, exchange, queue, jwksURL, issuer, audience string
	port                                                                     int
}

func env(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func configFromEnv() (config, error) {
	c := config{
		host:        env("CATALOG_READS_HOST", "127.0.0.1"),
		databaseURL: os.Getenv("CATALOG_READS_DATABASE_URL"),
		brokerURL:   os.Getenv("CATALOG_READS_BROKER_URL"),
		exchange:    env("CATALOG_READS_EXCHANGE", "strangler.events"),
		queue:       env("CATALOG_READS_QUEUE", "catalog.reads"),
		jwksURL:     os.Getenv("CATALOG_READS_JWKS_URL"),
		issuer:      env("CATALOG_READS_JWT_ISSUER", "strangler-users"),
		audience:    env("CATALOG_READS_JWT_AUDIENCE", "strangler"),
	}
	port, err := strconv.Atoi(env("CATALOG_READS_PORT", "8080"))
	if err != nil {
		return c, fmt.Errorf("CATALOG_READS_PORT: %w", err)
	}
	c.port = port
	for name, value := range map[string]string{
		"CATALOG_READS_DATABASE_URL": c.databaseURL, "CATALOG_READS_BROKER_URL": c.brokerURL,
	} {
		if value == "" {
			return c, fmt.Errorf("%s must be set", name)
		}
	}
	return c, nil
}
