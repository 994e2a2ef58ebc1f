// The composition root: database, schema, event consumer, token verifier and HTTP server.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	amqp "github.com/rabbitmq/amqp091-go"
)

func logEvent(event string, fields map[string]any) {
	line := map[string]any{"event": event, "service": "catalog-reads-go"}
	for k, v := range fields {
		line[k] = v
	}
	text, _ := json.Marshal(line)
	fmt.Println(string(text))
}

// applyAll applies deliveries in arrival order (which keeps each aggregate's order) in one
// transaction.
func applyAll(db *sql.DB, deliveries []amqp.Delivery) ([]outcome, error) {
	tx, err := db.Begin()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	outcomes := make([]outcome, 0, len(deliveries))
	for _, d := range deliveries {
		e, err := envelopeParse(d.Body)
		if err != nil {
			return nil, err
		}
		result, err := envelopeProcess(tx, e)
		if err != nil {
			return nil, err
		}
		outcomes = append(outcomes, result)
	}
	return outcomes, tx.Commit()
}

// batchGap ends a batch: amqp091-go hands deliveries over one at a time from its own
// goroutine, so "what has arrived" is what comes within this gap, not what is ready this instant.
const batchGap = time.Millisecond

// consume applies as many deliveries as have arrived in one transaction; if that fails, one per
// transaction, so only the bad one is rejected. Acknowledged after commit.
func consume(db *sql.DB, deliveries <-chan amqp.Delivery, events *prometheus.CounterVec) {
	gap := time.NewTimer(time.Hour)
	gap.Stop() // stopped and drained: each Reset below starts from a clean channel
	for first := range deliveries {
		batch := []amqp.Delivery{first}
	more:
		for len(batch) < 200 {
			gap.Reset(batchGap)
			select {
			case d, ok := <-deliveries:
				if !gap.Stop() {
					<-gap.C
				}
				if !ok {
					break more
				}
				batch = append(batch, d)
			case <-gap.C:
				break more
			}
		}
		outcomes, err := applyAll(db, batch)
		if err != nil {
			outcomes = outcomes[:0]
			for _, d := range batch {
				one, err := applyAll(db, []amqp.Delivery{d})
				if err != nil {
					one = []outcome{rejected}
					logEvent("inbox.rejected", map[string]any{"error": err.Error()})
				}
				outcomes = append(outcomes, one...)
			}
		}
		for _, o := range outcomes {
			events.WithLabelValues(string(o)).Inc()
		}
		batch[len(batch)-1].Ack(true)
	}
}

// databaseDSN is the URL with sslmode=disable when it names none (lib/pq would require TLS,
// where libpq prefers it and node-postgres does without; the servers here have none), and
// binary_parameters=yes, which sends a statement with its arguments in one round trip
// instead of two (prepare, then execute).
func databaseDSN(raw string) string {
	for _, option := range []string{"sslmode=disable", "binary_parameters=yes"} {
		name, _, _ := strings.Cut(option, "=")
		if strings.Contains(raw, name+"=") {
			continue
		}
		if strings.Contains(raw, "?") {
			raw += "&" + option
		} else {
			raw += "?" + option
		}
	}
	return raw
}

func run() error {
	c, err := configFromEnv()
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "inbox_events_total", Help: "Delivered events by outcome (applied, duplicate, parked, rejected).",
	}, []string{"outcome"})
	registry.MustRegister(events)

	db, err := sql.Open("postgres", databaseDSN(c.databaseURL))
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	if _, err := db.Exec(schema); err != nil {
		return err
	}

	connection, err := amqp.Dial(c.brokerURL)
	if err != nil {
		return err
	}
	channel, err := connection.Channel()
	if err != nil {
		return err
	}
	if err := channel.ExchangeDeclare(c.exchange, "topic", true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := channel.QueueDeclare(c.queue, true, false, false, false, nil); err != nil {
		return err
	}
	if err := channel.QueueBind(c.queue, "catalog.#", c.exchange, false, nil); err != nil {
		return err
	}
	if err := channel.Qos(200, 0, false); err != nil {
		return err
	}
	deliveries, err := channel.Consume(c.queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	var consuming, stopping atomic.Bool
	consuming.Store(true)
	closed := connection.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		<-closed
		consuming.Store(false)
		logEvent("broker.closed", nil)
		if !stopping.Load() {
			os.Exit(1) // the supervisor restarts us; unacknowledged events are redelivered
		}
	}()
	go consume(db, deliveries, events)

	readiness := func(ctx context.Context) (bool, object) {
		database := object{{"ok", true}, {"detail", "postgresql"}}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "SELECT 1"); err != nil {
			database = object{{"ok", false}, {"detail", err.Error()}}
		}
		broker := object{{"ok", true}, {"detail", "amqp"}}
		if !consuming.Load() {
			broker = object{{"ok", false}, {"detail", "not consuming"}}
		}
		return database[0].value == true && consuming.Load(), object{{"database", database}, {"broker", broker}}
	}
	verifier := &tokenVerifier{keys: newJWKSKeys(c.jwksURL), issuer: c.issuer, audience: c.audience}
	httpServer := &http.Server{
		Addr:              net.JoinHostPort(c.host, strconv.Itoa(c.port)),
		Handler:           newServer(db, verifier, registry, readiness),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       65 * time.Second,
	}
	listener, err := net.Listen("tcp", httpServer.Addr)
	if err != nil {
		return err
	}
	logEvent("http.listening", map[string]any{"port": c.port})

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		stopping.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		httpServer.Shutdown(ctx)
	}()
	if err := httpServer.Serve(listener); err != http.ErrServerClosed {
		return err
	}
	connection.Close()
	return db.Close()
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" { // for the container's HEALTHCHECK
		os.Exit(healthcheck())
	}
	if err := run(); err != nil {
		logEvent("startup.failed", map[string]any{"error": err.Error()})
		os.Exit(1)
	}
}

func healthcheck() int {
	client := &http.Client{Timeout: 5 * time.Second}
	response, err := client.Get("http://127.0.0.1:" + env("CATALOG_READS_PORT", "8080") + "/readyz")
	if err != nil || response.StatusCode != 200 {
		return 1
	}
	return 0
}
