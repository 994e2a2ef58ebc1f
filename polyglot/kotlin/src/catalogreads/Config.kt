// Settings from the environment, read once at start-up (the same names for every implementation).
package catalogreads

fun env(name: String, fallback: String): String = System.getenv(name)?.takeIf { it.isNotEmpty() } ?: fallback

data class Config(
    val host: String = env("CATALOG_READS_HOST", "127.0.0.1"),
    val port: Int = env("CATALOG_READS_PORT", "8080").let {
        it.toIntOrNull() ?: throw IllegalArgumentException("CATALOG_READS_PORT: not a number: $it")
    },
    val databaseUrl: String = env("CATALOG_READS_DATABASE_URL", ""),
    val brokerUrl: String = env("CATALOG_READS_BROKER_URL", ""),
    val exchange: String = env("CATALOG_READS_EXCHANGE", "strangler.events"),
    val queue: String = env("CATALOG_READS_QUEUE", "catalog.reads"),
    val jwksUrl: String = env("CATALOG_READS_JWKS_URL", ""),
    val issuer: String = env("CATALOG_READS_JWT_ISSUER", "strangler-users"),
    val audience: String = env("CATALOG_READS_JWT_AUDIENCE", "strangler")
) {
    init {
        require(databaseUrl.isNotEmpty()) { "CATALOG_READS_DATABASE_URL must be set" }
        require(brokerUrl.isNotEmpty()) { "CATALOG_READS_BROKER_URL must be set" }
    }
}
