// The composition root: database, schema, event consumer, token verifier and HTTP server.

import amqp from "amqplib";
import pg from "pg";
import client from "prom-client";
import { tokenVerifier } from "./auth.js";
import { configFromEnv } from "./config.js";
import { envelopeParse, envelopeProcess, type Outcome } from "./events.js";
import { SCHEMA } from "./schema.js";
import { serverCreate } from "./server.js";

const log = (event: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ event, service: "catalog-reads-typescript", ...fields }));

async function main() {
  const config = configFromEnv();
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const events = new client.Counter({
    name: "inbox_events_total",
    help: "Delivered events by outcome (applied, duplicate, parked, rejected).",
    labelNames: ["outcome"],
    registers: [registry],
  });

  const db = new pg.Pool({ connectionString: config.databaseUrl, max: 10 });
  await db.query(SCHEMA);

  let consuming = false;
  let stopping = false;
  const connection = await amqp.connect(config.brokerUrl);
  connection.on("close", () => {
    consuming = false;
    log("broker.closed");
    if (!stopping) process.exit(1); // let the supervisor restart us; unacknowledged events are redelivered
  });
  const channel = await connection.createChannel();
  await channel.assertExchange(config.exchange, "topic", { durable: true });
  await channel.assertQueue(config.queue, { durable: true });
  await channel.bindQueue(config.queue, config.exchange, "catalog.#");
  await channel.prefetch(200);
  // Deliveries are applied in arrival order (which keeps each aggregate's order), as many as
  // have arrived in one transaction; if one fails, again one per transaction, so only the bad
  // one is rejected. Acknowledged after commit.
  const pending: amqp.ConsumeMessage[] = [];
  let draining = false;
  const applyAll = async (messages: amqp.ConsumeMessage[]): Promise<Outcome[]> => {
    const conn = await db.connect();
    try {
      await conn.query("BEGIN");
      const outcomes: Outcome[] = [];
      for (const message of messages) {
        outcomes.push(await envelopeProcess(conn, envelopeParse(message.content.toString("utf8"))));
      }
      await conn.query("COMMIT");
      return outcomes;
    } catch (exc) {
      await conn.query("ROLLBACK");
      throw exc;
    } finally {
      conn.release();
    }
  };
  const drain = async () => {
    if (draining) return;
    draining = true;
    while (pending.length) {
      const batch = pending.splice(0, 200);
      let outcomes: (Outcome | "rejected")[];
      try {
        outcomes = await applyAll(batch);
      } catch {
        outcomes = [];
        for (const message of batch) {
          try {
            outcomes.push(...(await applyAll([message])));
          } catch (exc) {
            outcomes.push("rejected");
            log("inbox.rejected", { error: String(exc) });
          }
        }
      }
      for (const outcome of outcomes) events.inc({ outcome });
      channel.ack(batch[batch.length - 1], true);
    }
    draining = false;
  };
  await channel.consume(config.queue, (message) => {
    if (!message) return;
    pending.push(message);
    void drain();
  });
  consuming = true;

  const readiness = async (): Promise<[boolean, Record<string, unknown>]> => {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      await db.query("SELECT 1");
      checks.database = { ok: true, detail: "postgresql" };
    } catch (exc) {
      checks.database = { ok: false, detail: String(exc) };
    }
    checks.broker = consuming ? { ok: true, detail: "amqp" } : { ok: false, detail: "not consuming" };
    return [checks.database.ok && checks.broker.ok, checks];
  };

  const server = serverCreate({ db, callerFrom: tokenVerifier(config.jwksUrl, config.issuer, config.audience), readiness, registry });
  server.keepAliveTimeout = 65_000;
  server.listen(config.port, config.host, () => log("http.listening", { port: config.port }));
  const stop = () => {
    stopping = true;
    server.close();
    server.closeAllConnections();
    void connection.close().catch(() => undefined);
    void db.end().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((exc) => {
  log("startup.failed", { error: String(exc) });
  process.exit(1);
});
