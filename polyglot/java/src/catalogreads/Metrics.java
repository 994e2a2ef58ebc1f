// Prometheus metrics in its text format (Debian packages no Prometheus client for Java):
// labelled counters and one latency histogram, plus the process's memory and start time.
package catalogreads;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;

final class Metrics {
  /** A counter with labels: one child per label values (bounded by the callers' label sets). */
  static final class Counter {
    final String name, help;
    final List<String> labels;
    final Map<List<String>, LongAdder> children = new ConcurrentSkipListMap<>(Metrics::compare);

    Counter(String name, String help, String... labels) {
      this.name = name;
      this.help = help;
      this.labels = List.of(labels);
    }

    void inc(String... values) {
      children.computeIfAbsent(List.of(values), k -> new LongAdder()).increment();
    }

    void render(StringBuilder b) {
      b.append("# HELP ").append(name).append(' ').append(help).append('\n');
      b.append("# TYPE ").append(name).append(" counter\n");
      children.forEach((values, count) -> b.append(name).append(labelText(labels, values, null)).append(' ').append(count.sum()).append('\n'));
    }
  }

  static final class Histogram {
    final String name, help, label;
    final double[] buckets;
    final Map<String, long[]> counts = new ConcurrentHashMap<>();
    final Map<String, DoubleAdder> sums = new ConcurrentHashMap<>();

    Histogram(String name, String help, String label, double... buckets) {
      this.name = name;
      this.help = help;
      this.label = label;
      this.buckets = buckets;
    }

    void observe(String value, double seconds) {
      long[] count = counts.computeIfAbsent(value, k -> new long[buckets.length + 1]);
      synchronized (count) {
        for (int i = 0; i < buckets.length; i++) if (seconds <= buckets[i]) count[i]++;
        count[buckets.length]++;
      }
      sums.computeIfAbsent(value, k -> new DoubleAdder()).add(seconds);
    }

    void render(StringBuilder b) {
      b.append("# HELP ").append(name).append(' ').append(help).append('\n');
      b.append("# TYPE ").append(name).append(" histogram\n");
      new ConcurrentSkipListMap<>(counts).forEach((value, count) -> {
        long[] copy;
        synchronized (count) {
          copy = count.clone();
        }
        for (int i = 0; i <= buckets.length; i++) {
          String le = i < buckets.length ? Double.toString(buckets[i]) : "+Inf";
          b.append(name).append("_bucket").append(labelText(List.of(label), List.of(value), le)).append(' ').append(copy[i]).append('\n');
        }
        b.append(name).append("_sum").append(labelText(List.of(label), List.of(value), null)).append(' ').append(sums.get(value).sum()).append('\n');
        b.append(name).append("_count").append(labelText(List.of(label), List.of(value), null)).append(' ').append(copy[buckets.length]).append('\n');
      });
    }
  }

  private static int compare(List<String> a, List<String> b) {
    return String.join("\u0000", a).compareTo(String.join("\u0000", b));
  }

  private static String labelText(List<String> names, List<String> values, String le) {
    StringBuilder b = new StringBuilder("{");
    for (int i = 0; i < names.size(); i++) {
      if (i > 0) b.append(',');
      String escaped = values.get(i).replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
      b.append(names.get(i)).append("=\"").append(escaped).append('"');
    }
    if (le != null) b.append(names.isEmpty() ? "" : ",").append("le=\"").append(le).append('"');
    return b.append('}').toString();
  }

  final Counter requests = new Counter("http_requests_total", "HTTP requests by method, route and status.", "method", "route", "status");
  final Histogram latency =
      new Histogram("http_request_duration_seconds", "HTTP request latency.", "route",
          0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1);
  final Counter events = new Counter("inbox_events_total", "Delivered events by outcome (applied, duplicate, parked, rejected).", "outcome");
  private final long started = ManagementFactory.getRuntimeMXBean().getStartTime();

  String render() {
    StringBuilder b = new StringBuilder();
    requests.render(b);
    latency.render(b);
    events.render(b);
    Runtime runtime = Runtime.getRuntime();
    b.append("# HELP jvm_memory_heap_used_bytes Heap in use.\n# TYPE jvm_memory_heap_used_bytes gauge\n")
        .append("jvm_memory_heap_used_bytes ").append(runtime.totalMemory() - runtime.freeMemory()).append('\n');
    b.append("# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n")
        .append("# TYPE process_start_time_seconds gauge\n")
        .append("process_start_time_seconds ").append(started / 1000.0).append('\n');
    return b.toString();
  }
}
