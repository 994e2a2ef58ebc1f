// Settings from the environment, read once at start-up (the same names for every implementation).

export interface Config {
  host: string;
  port: number;
  databaseUrl: string;
  brokerUrl: string;
  exchange: string;
  queue: string;
  jwksUrl: string;
  issuer: string;
  audience: string;
}

function required(name: string, value: string | undefined): string {
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

export function configFromEnv(): Config {
  return {
    host: process.env.CATALOG_READS_HOST || "127.0.0.1",
    port: Number(process.env.CATALOG_READS_PORT ?? "8080"),
    databaseUrl: required("CATALOG_READS_DATABASE_URL", process.env.CATALOG_READS_DATABASE_URL),
    brokerUrl: required("CATALOG_READS_BROKER_URL", process.env.CATALOG_READS_BROKER_URL),
    exchange: process.env.CATALOG_READS_EXCHANGE || "strangler.events",
    queue: process.env.CATALOG_READS_QUEUE || "catalog.reads",
    jwksUrl: process.env.CATALOG_READS_JWKS_URL ?? "",
    issuer: process.env.CATALOG_READS_JWT_ISSUER || "strangler-users",
    audience: process.env.CATALOG_READS_JWT_AUDIENCE || "strangler",
  };
}
