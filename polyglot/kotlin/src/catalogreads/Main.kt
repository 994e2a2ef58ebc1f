// The composition root: database, schema, event consumer, token verifier and HTTP server.
package catalogreads

import com.rabbitmq.client.AMQP
import com.rabbitmq.client.Channel
import com.rabbitmq.client.ConnectionFactory
import com.rabbitmq.client.DefaultConsumer
import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.sql.Connection
import java.sql.SQLException
import java.time.Duration
import java.util.concurrent.Executors
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.system.exitProcess

fun log(event: String, vararg fields: Pair<String, Any?>) =
    println(Json.DRF.encode(obj("event" to event, "service" to "catalog-reads-kotlin", *fields)))

class Delivery(val tag: Long, val body: ByteArray)

/** Applies as many deliveries as have arrived in one transaction; if that fails, one per
 * transaction, so only the bad one is rejected. Acknowledged after commit. */
class Consumer(private val db: Database, private val channel: Channel, private val metrics: Metrics) : Runnable {
    val arrived = LinkedBlockingQueue<Delivery>()
    private var connection: Connection? = null

    private fun applyAll(batch: List<Delivery>): List<Outcome> {
        val c = connection?.takeUnless { it.isClosed } ?: db.open().also { connection = it }
        c.autoCommit = false
        try {
            return batch.map { envelopeProcess(c, envelopeParse(String(it.body, Charsets.UTF_8))) }.also { c.commit() }
        } catch (e: Exception) {
            try {
                c.rollback()
            } catch (broken: SQLException) {
                c.close()
            }
            throw e
        }
    }

    override fun run() {
        try {
            while (true) {
                val batch = mutableListOf(arrived.take())
                while (batch.size < 200) {
                    // The client hands deliveries over one by one: a batch ends after a 1 ms gap.
                    batch.add(arrived.poll(1, TimeUnit.MILLISECONDS) ?: break)
                }
                val outcomes = try {
                    applyAll(batch)
                } catch (batchFailed: Exception) {
                    batch.flatMap { d ->
                        try {
                            applyAll(listOf(d))
                        } catch (e: Exception) {
                            log("inbox.rejected", "error" to e.toString())
                            listOf(Outcome.REJECTED)
                        }
                    }
                }
                outcomes.forEach { metrics.events.inc(it.name.toLowerCase()) }
                channel.basicAck(batch.last().tag, true)
            }
        } catch (e: InterruptedException) {
            Thread.currentThread().interrupt()
        } catch (e: Exception) {
            log("inbox.failed", "error" to e.toString())
            exitProcess(1) // the supervisor restarts us; unacknowledged events are redelivered
        }
    }
}

fun run() {
    val c = Config()
    val metrics = Metrics()
    val db = Database(c.databaseUrl, 16)
    db.migrate()

    val factory = ConnectionFactory()
    factory.setUri(c.brokerUrl)
    factory.isAutomaticRecoveryEnabled = false // a lost broker ends the process (see below)
    val broker = factory.newConnection("catalog-reads-kotlin")
    val channel = broker.createChannel()
    channel.exchangeDeclare(c.exchange, "topic", true)
    channel.queueDeclare(c.queue, true, false, false, null)
    channel.queueBind(c.queue, c.exchange, "catalog.#")
    channel.basicQos(200)
    val consumer = Consumer(db, channel, metrics)
    channel.basicConsume(c.queue, false, object : DefaultConsumer(channel) {
        override fun handleDelivery(tag: String, envelope: com.rabbitmq.client.Envelope, properties: AMQP.BasicProperties, body: ByteArray) {
            consumer.arrived.add(Delivery(envelope.deliveryTag, body))
        }
    })
    val consuming = Thread(consumer, "inbox").apply { isDaemon = true; start() }
    val stopping = AtomicBoolean()
    broker.addShutdownListener { cause ->
        log("broker.closed", "reason" to cause.message)
        if (!stopping.get()) exitProcess(1) // the supervisor restarts us; unacknowledged events are redelivered
    }

    val readiness = {
        val database = db.check()
        val brokerOk = broker.isOpen && channel.isOpen && consuming.isAlive
        Readiness(database == null && brokerOk, obj(
            "database" to obj("ok" to (database == null), "detail" to (database ?: "postgresql")),
            "broker" to obj("ok" to brokerOk, "detail" to if (brokerOk) "amqp" else "not consuming")))
    }
    val verifier = Verifier(JwksKeys(c.jwksUrl, Duration.ofSeconds(10)), c.issuer, c.audience)
    // The JDK server's defaults: Nagle's algorithm on (40 ms stalls on keep-alive), idle 30 s.
    System.setProperty("sun.net.httpserver.nodelay", "true")
    System.setProperty("sun.net.httpserver.idleInterval", "65")
    val server = HttpServer.create(InetSocketAddress(c.host, c.port), 256)
    server.createContext("/", Server(db, verifier, metrics, readiness))
    server.executor = Executors.newFixedThreadPool(16)
    server.start()
    log("http.listening", "port" to c.port)

    Runtime.getRuntime().addShutdownHook(Thread {
        stopping.set(true)
        server.stop(1)
        try {
            broker.close(1000)
        } catch (e: Exception) {
            // closing on the way out: nothing more to do
        }
    })
}

private fun healthcheck(): Int = try {
    val client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
    val uri = URI.create("http://127.0.0.1:${env("CATALOG_READS_PORT", "8080")}/readyz")
    val response = client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding())
    if (response.statusCode() == 200) 0 else 1
} catch (e: Exception) {
    1
}

fun main(args: Array<String>) {
    if (args.size == 1 && args[0] == "healthcheck") exitProcess(healthcheck()) // the container's HEALTHCHECK
    try {
        run()
    } catch (e: Exception) {
        log("startup.failed", "error" to e.toString())
        exitProcess(1)
    }
}
