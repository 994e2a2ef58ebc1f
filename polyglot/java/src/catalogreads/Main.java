// The composition root: database, schema, event consumer, token verifier and HTTP server.
package catalogreads;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

public final class Main {
  private Main() {}

  static void log(String event, Map<String, Object> fields) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("event", event);
    line.put("service", "catalog-reads-java");
    line.putAll(fields);
    System.out.println(Json.DRF.encode(line));
  }

  record Delivery(long tag, byte[] body) {}

  /** Batches end when nothing more arrives within this gap (the client hands deliveries over one by one). */
  private static final long BATCH_GAP_MICROS = 1000;

  /**
   * Applies as many deliveries as have arrived in one transaction; if that fails, one per
   * transaction, so only the bad one is rejected. Acknowledged after commit.
   */
  static final class Consumer implements Runnable {
    private final Database db;
    private final Channel channel;
    private final Metrics metrics;
    final BlockingQueue<Delivery> arrived = new LinkedBlockingQueue<>();
    private Connection connection;

    Consumer(Database db, Channel channel, Metrics metrics) {
      this.db = db;
      this.channel = channel;
      this.metrics = metrics;
    }

    private List<Events.Outcome> applyAll(List<Delivery> batch) throws Exception {
      if (connection == null || connection.isClosed()) connection = db.open();
      connection.setAutoCommit(false);
      try {
        List<Events.Outcome> outcomes = new ArrayList<>();
        for (Delivery d : batch) outcomes.add(Events.process(connection, Events.parse(d.body())));
        connection.commit();
        return outcomes;
      } catch (Exception e) {
        try {
          connection.rollback();
        } catch (SQLException broken) {
          connection.close();
        }
        throw e;
      }
    }

    @Override
    public void run() {
      try {
        while (true) {
          List<Delivery> batch = new ArrayList<>(List.of(arrived.take()));
          while (batch.size() < 200) {
            Delivery d = arrived.poll(BATCH_GAP_MICROS, TimeUnit.MICROSECONDS);
            if (d == null) break;
            batch.add(d);
          }
          List<Events.Outcome> outcomes;
          try {
            outcomes = applyAll(batch);
          } catch (Exception batchFailed) {
            outcomes = new ArrayList<>();
            for (Delivery d : batch) {
              try {
                outcomes.addAll(applyAll(List.of(d)));
              } catch (Exception e) {
                outcomes.add(Events.Outcome.REJECTED);
                log("inbox.rejected", Map.of("error", String.valueOf(e)));
              }
            }
          }
          for (Events.Outcome o : outcomes) metrics.events.inc(o.label());
          channel.basicAck(batch.get(batch.size() - 1).tag(), true);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        log("inbox.failed", Map.of("error", String.valueOf(e)));
        System.exit(1); // the supervisor restarts us; unacknowledged events are redelivered
      }
    }
  }

  static void run() throws Exception {
    Config c = Config.fromEnv();
    Metrics metrics = new Metrics();
    Database db = new Database(c.databaseUrl(), 16);
    db.migrate();

    ConnectionFactory factory = new ConnectionFactory();
    factory.setUri(c.brokerUrl());
    factory.setAutomaticRecoveryEnabled(false); // a lost broker ends the process (see below)
    com.rabbitmq.client.Connection broker = factory.newConnection("catalog-reads-java");
    Channel channel = broker.createChannel();
    channel.exchangeDeclare(c.exchange(), "topic", true);
    channel.queueDeclare(c.queue(), true, false, false, null);
    channel.queueBind(c.queue(), c.exchange(), "catalog.#");
    channel.basicQos(200);
    Consumer consumer = new Consumer(db, channel, metrics);
    channel.basicConsume(c.queue(), false, new DefaultConsumer(channel) {
      @Override
      public void handleDelivery(String tag, Envelope envelope, AMQP.BasicProperties properties, byte[] body) {
        consumer.arrived.add(new Delivery(envelope.getDeliveryTag(), body));
      }
    });
    Thread consuming = new Thread(consumer, "inbox");
    consuming.setDaemon(true);
    consuming.start();
    AtomicBoolean stopping = new AtomicBoolean();
    broker.addShutdownListener(cause -> {
      log("broker.closed", Map.of("reason", String.valueOf(cause.getMessage())));
      if (!stopping.get()) System.exit(1); // the supervisor restarts us; unacknowledged events are redelivered
    });

    java.util.function.Supplier<Server.Readiness> readiness = () -> {
      String database = db.check();
      boolean brokerOk = broker.isOpen() && channel.isOpen() && consuming.isAlive();
      Map<String, Object> checks = Json.object(
          "database", Json.object("ok", database == null, "detail", database == null ? "postgresql" : database),
          "broker", Json.object("ok", brokerOk, "detail", brokerOk ? "amqp" : "not consuming"));
      return new Server.Readiness(database == null && brokerOk, checks);
    };
    Auth auth = new Auth(new Auth.JwksKeys(c.jwksUrl(), Duration.ofSeconds(10)), c.issuer(), c.audience());
    // The JDK server's defaults: Nagle's algorithm on (40 ms stalls on keep-alive), idle 30 s.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    System.setProperty("sun.net.httpserver.idleInterval", "65");
    HttpServer server = HttpServer.create(new InetSocketAddress(c.host(), c.port()), 256);
    server.createContext("/", new Server(db, auth, metrics, readiness));
    server.setExecutor(Executors.newFixedThreadPool(16));
    server.start();
    log("http.listening", Map.of("port", c.port()));

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stopping.set(true);
      server.stop(1);
      try {
        broker.close(1000);
      } catch (Exception e) {
        // closing on the way out: nothing more to do
      }
    }));
  }

  private static int healthcheck() {
    try {
      HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      URI uri = URI.create("http://127.0.0.1:" + Config.env("CATALOG_READS_PORT", "8080") + "/readyz");
      HttpResponse<Void> response =
          client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding());
      return response.statusCode() == 200 ? 0 : 1;
    } catch (Exception e) {
      return 1;
    }
  }

  public static void main(String[] args) {
    if (args.length == 1 && args[0].equals("healthcheck")) System.exit(healthcheck()); // the container's HEALTHCHECK
    try {
      run();
    } catch (Exception e) {
      log("startup.failed", Map.of("error", String.valueOf(e)));
      System.exit(1);
    }
  }
}
