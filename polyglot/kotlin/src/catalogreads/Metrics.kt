// Prometheus metrics in its text format (Debian packages no Prometheus client for the JVM):
// labelled counters and one latency histogram, plus the heap in use and the start time.
package catalogreads

import java.lang.management.ManagementFactory
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.DoubleAdder
import java.util.concurrent.atomic.LongAdder

private fun labelText(names: List<String>, values: List<String>, le: String? = null): String {
    val pairs = names.zip(values).map { (name, value) ->
        "$name=\"" + value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\""
    } + listOfNotNull(le?.let { "le=\"$it\"" })
    return pairs.joinToString(",", "{", "}")
}

/** A counter with labels: one child per label values (bounded by the callers' label sets). */
class Counter(private val name: String, private val help: String, private vararg val labels: String) {
    private val children = ConcurrentHashMap<List<String>, LongAdder>()

    fun inc(vararg values: String) = children.computeIfAbsent(values.toList()) { LongAdder() }.increment()

    fun render(b: StringBuilder) {
        b.append("# HELP $name $help\n# TYPE $name counter\n")
        children.entries.sortedBy { it.key.joinToString("\u0000") }.forEach { (values, count) ->
            b.append(name).append(labelText(labels.toList(), values)).append(' ').append(count.sum()).append('\n')
        }
    }
}

class Histogram(private val name: String, private val help: String, private val label: String, private vararg val buckets: Double) {
    private val counts = ConcurrentHashMap<String, LongArray>()
    private val sums = ConcurrentHashMap<String, DoubleAdder>()

    fun observe(value: String, seconds: Double) {
        val count = counts.computeIfAbsent(value) { LongArray(buckets.size + 1) }
        synchronized(count) {
            buckets.forEachIndexed { i, bound -> if (seconds <= bound) count[i]++ }
            count[buckets.size]++
        }
        sums.computeIfAbsent(value) { DoubleAdder() }.add(seconds)
    }

    fun render(b: StringBuilder) {
        b.append("# HELP $name $help\n# TYPE $name histogram\n")
        counts.entries.sortedBy { it.key }.forEach { (value, count) ->
            val copy = synchronized(count) { count.clone() }
            val labels = listOf(label)
            val values = listOf(value)
            for (i in 0..buckets.size) {
                val le = if (i < buckets.size) buckets[i].toString() else "+Inf"
                b.append("${name}_bucket").append(labelText(labels, values, le)).append(' ').append(copy[i]).append('\n')
            }
            b.append("${name}_sum").append(labelText(labels, values)).append(' ').append(sums[value]?.sum() ?: 0.0).append('\n')
            b.append("${name}_count").append(labelText(labels, values)).append(' ').append(copy[buckets.size]).append('\n')
        }
    }
}

class Metrics {
    val requests = Counter("http_requests_total", "HTTP requests by method, route and status.", "method", "route", "status")
    val latency = Histogram("http_request_duration_seconds", "HTTP request latency.", "route",
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
    val events = Counter("inbox_events_total", "Delivered events by outcome (applied, duplicate, parked, rejected).", "outcome")
    private val started = ManagementFactory.getRuntimeMXBean().startTime

    fun render(): String = buildString {
        requests.render(this)
        latency.render(this)
        events.render(this)
        val runtime = Runtime.getRuntime()
        append("# HELP jvm_memory_heap_used_bytes Heap in use.\n# TYPE jvm_memory_heap_used_bytes gauge\n")
        append("jvm_memory_heap_used_bytes ${runtime.totalMemory() - runtime.freeMemory()}\n")
        append("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n")
        append("# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ${started / 1000.0}\n")
    }
}
