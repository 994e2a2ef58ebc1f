// Settings from the environment, read once at start-up (the same names for every implementation).
package catalogreads;

record Config(
    String host,
    int port,
    String databaseUrl,
    String brokerUrl,
    String exchange,
    String queue,
    String jwksUrl,
    String issuer,
    String audience) {

  static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isEmpty() ? fallback : value;
  }

  static Config fromEnv() {
    String port = env("CATALOG_READS_PORT", "8080");
    Config c;
    try {
      c =
          new Config(
              env("CATALOG_READS_HOST", "127.0.0.1"),
              Integer.parseInt(port),
              env("CATALOG_READS_DATABASE_URL", ""),
              env("CATALOG_READS_BROKER_URL", ""),
              env("CATALOG_READS_EXCHANGE", "strangler.events"),
              env("CATALOG_READS_QUEUE", "catalog.reads"),
              env("CATALOG_READS_JWKS_URL", ""),
              env("CATALOG_READS_JWT_ISSUER", "strangler-users"),
              env("CATALOG_READS_JWT_AUDIENCE", "strangler"));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("CATALOG_READS_PORT: not a number: " + port);
    }
    if (c.databaseUrl.isEmpty()) throw new IllegalArgumentException("CATALOG_READS_DATABASE_URL must be set");
    if (c.brokerUrl.isEmpty()) throw new IllegalArgumentException("CATALOG_READS_BROKER_URL must be set");
    return c;
  }
}
